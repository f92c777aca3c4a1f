package io.stellane.config;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SizeParserTest {

    @ParameterizedTest
    @CsvSource({"0, 0", "65536, 65536", "512B, 512", "64KiB, 65536", "4MiB, 4194304", "4 MiB, 4194304",
            "1GiB, 1073741824", "' 8KiB ', 8192"})
    void sizesInBytesAndBinaryUnits(String text, long bytes) {
        assertThat(ConfigLoader.parseSize("k", text)).isEqualTo(bytes);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "4MB", "4mb", "-1", "1.5MiB", "MiB", "4 MiB extra", "9223372036854775807KiB"})
    void anythingElseNamesTheKeyAndTheForms(String text) {
        assertThatThrownBy(() -> ConfigLoader.parseSize("server.max_body_size", text))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("server.max_body_size")
                .hasMessageContaining("KiB, MiB or GiB");
    }
}
