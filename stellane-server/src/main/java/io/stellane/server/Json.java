package io.stellane.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;

/** How a server turns values into JSON and back: its defaults, and the one place a JSON body is encoded. */
final class Json {
    private Json() {
    }

    /**
     * Unknown properties are ignored (a client may send more than a record has); {@code java.time}
     * values are ISO-8601 strings both ways ({@code "2026-12-01T10:15:30Z"}, {@code "2026-12-01"},
     * {@code "PT1.5S"}), which is what other languages' clients read and write, not epoch numbers.
     */
    static ObjectMapper defaultMapper() {
        return JsonMapper.builder()
                .addModule(new JavaTimeModule())
                .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
                .disable(SerializationFeature.WRITE_DURATIONS_AS_TIMESTAMPS)
                .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .build();
    }

    /**
     * Serializes a JSON body now, so that a value the mapper cannot write fails the handler that
     * returned it (its error mappers, its counters, its log line) rather than the connection later.
     * Any other body is left as it is: text, arrays and constants are written without a copy.
     */
    static Response encode(Response r, ObjectMapper mapper) throws JsonProcessingException {
        if (r.body instanceof ResponseBody.JsonValue j) {
            r.body = new ResponseBody.Bytes(mapper.writeValueAsBytes(j.value()));
        }
        return r;
    }
}
