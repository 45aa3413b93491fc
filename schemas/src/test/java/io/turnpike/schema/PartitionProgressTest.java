package io.turnpike.schema;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class PartitionProgressTest {

  @Test
  void outOfOrderCompletionNeverSkipsAnUnfinishedRecord() {
    PartitionProgress p = new PartitionProgress();
    assertThat(p.committable()).isEqualTo(-1);
    assertThat(p.advance()).isEqualTo(-1);
    for (long o = 10; o <= 14; o++) {
      p.received(o);
    }
    p.finished(12);
    p.finished(14);
    assertThat(p.committable()).isEqualTo(10);
    p.finished(10);
    assertThat(p.committable()).isEqualTo(11);
    p.committed(11);
    assertThat(p.advance()).as("nothing new").isEqualTo(-1);
    p.finished(11);
    assertThat(p.advance()).isEqualTo(13);
    p.committed(13);
    p.finished(13);
    assertThat(p.advance()).isEqualTo(15);
  }

  @Test
  void gapsInOffsetsAreFine() {
    PartitionProgress p = new PartitionProgress();
    p.received(3);
    p.received(7); // 4..6 were transaction markers or aborted records
    p.finished(7);
    assertThat(p.committable()).isEqualTo(3);
    p.finished(3);
    assertThat(p.committable()).isEqualTo(8);
    assertThat(p.openCount()).isZero();
  }
}
