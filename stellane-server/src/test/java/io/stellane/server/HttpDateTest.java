package io.stellane.server;

import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class HttpDateTest {
    private static Instant parse(CharSequence value) {
        return ZonedDateTime.parse(value, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant();
    }

    @Test
    void isTheCurrentSecondInImfFixdate() {
        Instant before = Instant.now().minusSeconds(1);
        CharSequence value = HttpDate.at(System.nanoTime());
        assertThat(value.toString()).matches("[A-Z][a-z]{2}, \\d{2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT");
        assertThat(parse(value)).isBetween(before, Instant.now().plusSeconds(1));
    }

    @Test
    void aClockReadingPastTheRecheckWindowReadsTheWallClockAgain() {
        CharSequence first = HttpDate.at(System.nanoTime());
        long firstSecond = parse(first).getEpochSecond();
        while (System.currentTimeMillis() / 1000 <= firstSecond) { // at most a second
            Thread.onSpinWait();
        }
        CharSequence later = HttpDate.at(System.nanoTime() + Duration.ofSeconds(1).toNanos());
        assertThat(parse(later)).isAfter(parse(first));
    }
}
