#!/bin/sh
# Runs every test under tests/ from the workspace root; exit code 0 when all pass.
set -e
python3 -m unittest discover -s tests -t . -v
