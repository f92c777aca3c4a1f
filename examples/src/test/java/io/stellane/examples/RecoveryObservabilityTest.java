package io.stellane.examples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.stellane.config.RuntimeConfig;
import io.stellane.examples.users.DatabaseConfig;
import io.stellane.server.ServerConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The example app with recovery on: journaled creates move the recovery meters in /metrics and the
 * dashboard's recovery card, and an idempotent retry is answered from the journal.
 */
class RecoveryObservabilityTest {
    @TempDir
    Path tmp;
    private UsersApp app;

    @AfterEach
    void stop() {
        if (app != null) {
            app.close();
        }
    }

    private static double metric(String scrape, String name) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + "(?:\\{[^}]*\\})? (\\S+)$").matcher(scrape);
        return m.find() ? Double.parseDouble(m.group(1)) : Double.NaN;
    }

    @Test
    void journaledCreatesMoveTheRecoveryMetersAndTheDashboard() throws Exception {
        RuntimeConfig runtime = RuntimeConfig.builder().backendType("nio").workerThreads(2)
                .enableRequestRecovery(true).recoveryBackend("mmap").recoveryPath(tmp.resolve("journal")).build();
        app = UsersApp.start(new AppConfig(runtime, "127.0.0.1", 0, ServerConfig.defaults(), new AppConfig.Management("127.0.0.1", 0, false),
                DatabaseConfig.defaults(tmp), tmp, null));
        int port = app.port();
        for (int i = 0; i < 3; i++) {
            HttpResponse<String> r = UsersServiceTest.call(port, "POST", "/users",
                    "{\"name\":\"r" + i + "\",\"email\":\"r" + i + "@example.com\"}");
            assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
        }
        HttpResponse<String> keyed = UsersServiceTest.call(port, "POST", "/users",
                "{\"name\":\"k\",\"email\":\"k@example.com\"}", "Idempotency-Key", "abc-1");
        HttpResponse<String> retry = UsersServiceTest.call(port, "POST", "/users",
                "{\"name\":\"k\",\"email\":\"k@example.com\"}", "Idempotency-Key", "abc-1");
        assertThat(retry.statusCode()).isEqualTo(201);
        assertThat(retry.body()).isEqualTo(keyed.body());
        assertThat(retry.headers().firstValue("Idempotent-Replay")).hasValue("true");
        UsersServiceTest.call(port, "GET", "/users/1", null); // GETs are not journaled

        String scrape = UsersServiceTest.call(app.managementPort(), "GET", "/metrics", null).body();
        assertThat(metric(scrape, "stellane_recovery_journaled_total")).isEqualTo(4);
        assertThat(metric(scrape, "stellane_recovery_completed_total")).isEqualTo(4);
        assertThat(metric(scrape, "stellane_recovery_journal_size_bytes")).isPositive();

        JsonNode data = new ObjectMapper().readTree(UsersServiceTest.call(app.managementPort(), "GET", "/stellane/dashboard/data", null).body());
        assertThat(data.path("recovery").path("enabled").asBoolean()).isTrue();
        assertThat(data.path("recovery").path("journaled").asLong()).isEqualTo(4);
        assertThat(data.path("recovery").path("completed").asLong()).isEqualTo(4);
    }
}
