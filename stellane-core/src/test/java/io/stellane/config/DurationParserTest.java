package io.stellane.config;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Duration;

import static io.stellane.config.ConfigAssertions.assertConfigError;
import static org.assertj.core.api.Assertions.assertThat;

class DurationParserTest {

    @ParameterizedTest
    @CsvSource({
            "100ns,   100",
            "250us,   250000",
            "50ms,    50000000",
            "2s,      2000000000",
            "1.5s,    1500000000",
            "0.5ms,   500000",
            "1m,      60000000000",
            "1h,      3600000000000",
            "0s,      0",
            "007ms,   7000000",
    })
    void parsesEveryUnit(String text, long nanos) {
        assertThat(ConfigLoader.parseDuration("k", text)).isEqualTo(Duration.ofNanos(nanos));
    }

    @ParameterizedTest
    @ValueSource(strings = {" 2s", "2s ", "\t2s\n"})
    void ignoresSurroundingWhitespace(String text) {
        assertThat(ConfigLoader.parseDuration("k", text)).isEqualTo(Duration.ofSeconds(2));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "   ", "5", "ms", "5 ms", "5S", "5MS", "-1s", "+1s", "1d", "1.s", ".5s", "1e3ms",
            "1.5ns", "fast", "1h30m", "99999999999999999999h"})
    void rejectsOtherText(String text) {
        assertConfigError(() -> ConfigLoader.parseDuration("runtime.shutdown_timeout", text),
                "runtime.shutdown_timeout", '"' + text + '"', "ns, us, ms, s, m or h", "1.5s");
    }

    @ParameterizedTest
    @CsvSource({
            "100ns, 100ns",
            "1500ms, 1500ms",
            "1.5s, 1500ms",
            "120s, 2m",
            "90s, 90s",
            "3600s, 1h",
            "1000us, 1ms",
            "0ms, 0s",
    })
    void formatsInTheLargestExactUnit(String text, String formatted) {
        assertThat(ConfigLoader.formatDuration(ConfigLoader.parseDuration("k", text))).isEqualTo(formatted);
    }

    @org.junit.jupiter.api.Test
    void formatsNegativeDurations() {
        assertThat(ConfigLoader.formatDuration(Duration.ofMillis(-5))).isEqualTo("-5ms");
    }
}
