package io.turnpike.cli.example;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedReply;
import java.util.Map;

/**
 * EXAMPLE CODE: how the offline model plays the workspace coder ({@code agents/workspace-coder.yaml},
 * recognised by its sandbox tools). Like a careful programmer it reads {@code hello.py}, loads the
 * python-tests skill, changes the code and adds a test in one {@code apply_patch}, runs the tests with
 * {@code shell} (when the sandbox can run python3; it says so when it cannot) and reports. Every tool
 * call is executed for real by the sandbox service in the run's workspace. Every answer is labelled
 * {@link OfflineTravelScript#LABEL}.
 */
final class OfflineWorkspaceScript {
  private static final ObjectMapper JSON = new ObjectMapper();

  static final String PATCH = """
      *** Begin Patch
      *** Update File: hello.py
      @@
       def greet(name: str) -> str:
           return f"Hello, {name}!"
      +
      +
      +def farewell(name: str) -> str:
      +    return f"Goodbye, {name}!"
      *** Add File: tests/__init__.py
      +# the workspace's tests (a package, so unittest discovers them from the root)
      *** Add File: tests/test_hello.py
      +import unittest
      +
      +import hello
      +
      +
      +class HelloTest(unittest.TestCase):
      +    def test_greet(self):
      +        self.assertEqual(hello.greet("Ada"), "Hello, Ada!")
      +
      +    def test_farewell(self):
      +        self.assertEqual(hello.farewell("Ada"), "Goodbye, Ada!")
      *** End Patch
      """;

  /** The skill's own test command, when the sandbox can run python3. */
  static final String RUN_TESTS = "if python3 -c '' 2>/dev/null; then sh skills/python-tests/run_tests.sh 2>&1;"
      + " else echo 'python3 cannot run in this sandbox: the tests are written, not run';"
      + " grep -c 'def test_' tests/test_hello.py; fi";

  private OfflineWorkspaceScript() {}

  static boolean handles(ModelRequestView request) {
    return request.toolNames().contains("apply_patch") && request.toolNames().contains("shell");
  }

  static ScriptedReply reply(ModelRequestView request) {
    Map<String, String> outputs = request.toolOutputs();
    if (!outputs.containsKey("read_file")) {
      return ScriptedReply.toolCall("read_file", object("path", "hello.py").toString());
    }
    if (request.toolNames().contains("load_skill") && !outputs.containsKey("load_skill")) {
      return ScriptedReply.toolCall("load_skill", object("name", "python-tests").toString());
    }
    if (!outputs.containsKey("apply_patch")) {
      return ScriptedReply.toolCall("apply_patch", object("patch", PATCH).toString());
    }
    if (!outputs.containsKey("shell")) {
      return ScriptedReply.toolCall("shell", object("command", RUN_TESTS).toString());
    }
    String tests = outputs.get("shell").strip();
    String last = tests.isEmpty() ? "(no output)" : tests.lines().reduce((a, b) -> b).orElse(tests);
    return ScriptedReply.text(OfflineTravelScript.LABEL + " I added farewell(name) next to greet(name) in hello.py"
        + " and tests/test_hello.py with a test for each (patch: " + firstLine(outputs.get("apply_patch"))
        + "). Test run: " + last);
  }

  private static String firstLine(String s) {
    return s == null || s.isBlank() ? "applied" : s.strip().lines().findFirst().orElse(s);
  }

  private static ObjectNode object(String key, String value) {
    ObjectNode o = JSON.createObjectNode();
    o.put(key, value);
    return o;
  }
}
