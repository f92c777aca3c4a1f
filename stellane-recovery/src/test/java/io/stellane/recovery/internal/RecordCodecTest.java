package io.stellane.recovery.internal;

import io.stellane.recovery.HttpHeader;
import io.stellane.recovery.JournaledRequest;
import io.stellane.recovery.testing.TestRequests;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RecordCodecTest {
    @Test
    void stringsRoundTripWhateverTheirCharacters() {
        // ASCII takes the direct path, the rest goes through UTF-8; a non-ASCII char late in a long
        // string must not leave the bytes copied before it behind
        List<String> strings = List.of("", "abc", "héllo", "日本語", "a".repeat(300) + "é", "\u007f\u0080", "x\uD83D\uDE00y",
                "\u0141A" /* its low byte is ASCII A */);
        RecordCodec.Writer w = new RecordCodec.Writer(1);
        for (String s : strings) {
            w.str(s);
        }
        w.str(null).i32(42);
        RecordCodec.Reader r = new RecordCodec.Reader(w.toByteArray());
        for (String s : strings) {
            assertThat(r.str()).isEqualTo(s);
        }
        assertThat(r.str()).isNull();
        assertThat(r.i32()).isEqualTo(42);
    }

    @Test
    void aResetWriterEncodesLikeAFreshOne() {
        JournaledRequest big = TestRequests.request("big-request", "key-1", 5_000);
        JournaledRequest small = TestRequests.request("small", null, 3);
        RecordCodec.Writer reused = new RecordCodec.Writer(16).request(big);
        reused.reset().request(small);
        byte[] fresh = new RecordCodec.Writer(16).request(small).toByteArray();
        assertThat(reused.size()).isEqualTo(fresh.length);
        assertThat(java.util.Arrays.copyOf(reused.array(), reused.size())).isEqualTo(fresh);
        JournaledRequest back = new RecordCodec.Reader(fresh).request();
        assertThat(back.requestId()).isEqualTo("small");
        assertThat(back.headers()).containsExactlyElementsOf(small.headers());
    }

    @Test
    void encodeGivesTheWritersBytesExactlySizedWhateverTheStrings() {
        List<JournaledRequest> requests = List.of(
                TestRequests.request("ascii", "key-1", 1_000),
                TestRequests.request("no-key", null, 0),
                new JournaledRequest("id-\u00e9", java.time.Instant.ofEpochSecond(7, 9), "POST", "/caf\u00e9",
                        List.of(new HttpHeader("x-name", "J\u00fcrgen \u65e5\u672c")), new byte[] {1, 2, 3}, "k\u00e9y"));
        for (JournaledRequest r : requests) {
            byte[] expected = new RecordCodec.Writer(1).request(r).toByteArray();
            assertThat(RecordCodec.encode(r)).as(r.requestId()).isEqualTo(expected);
        }
    }

    @Test
    void truncatedInputIsRejectedNotMisread() {
        byte[] bytes = new RecordCodec.Writer(8).str("hello").map(Map.of("k", "v"))
                .headers(List.of(new HttpHeader("A", "b"))).toByteArray();
        byte[] cut = java.util.Arrays.copyOf(bytes, bytes.length - 1);
        RecordCodec.Reader r = new RecordCodec.Reader(cut);
        assertThat(r.str()).isEqualTo("hello");
        assertThat(r.map()).containsEntry("k", "v");
        assertThatThrownBy(r::headers).isInstanceOf(IllegalArgumentException.class);
    }
}
