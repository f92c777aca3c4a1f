package io.stellane.examples;

import com.fasterxml.jackson.databind.JsonNode;
import io.stellane.examples.users.DatabaseConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Metrics, stats, the dashboard and the health details live on the management listener, not on the public
 * one, unless {@code management.serve_on_public_port}; and what the management listener serves stays out of
 * the service's HTTP metrics.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ManagementListenerTest {
    private static final List<String> MANAGEMENT_PATHS =
            List.of("/metrics", "/stats", "/stellane/dashboard", "/stellane/dashboard/data");

    @TempDir
    Path tmp;
    private UsersApp app;

    @AfterEach
    void stop() {
        if (app != null) {
            app.close();
        }
    }

    private static HttpResponse<String> get(int port, String path) throws Exception {
        return UsersServiceTest.call(port, "GET", path, null);
    }

    /** {@code stellane_http_server_requests_total} summed over the series of {@code route}; 0 when there is none. */
    private static double requests(String scrape, String route) {
        Matcher m = Pattern.compile("(?m)^stellane_http_server_requests_total\\{[^}]*route=\"" + Pattern.quote(route)
                + "\"[^}]*} (\\S+)$").matcher(scrape);
        double sum = 0;
        while (m.find()) {
            sum += Double.parseDouble(m.group(1));
        }
        return sum;
    }

    @Test
    void byDefaultThePublicPortServesNoneOfThemAndItsHealthNoDetails() throws Exception {
        // the defaults of ./stellane serve, except the ports
        AppConfig config = AppConfig.resolve(List.of("--port", "0", "--management-port", "0", "--backend", "nio",
                "--data-dir", tmp.toString()), Map.of());
        app = UsersApp.start(config);
        for (String path : MANAGEMENT_PATHS) {
            assertThat(get(app.port(), path).statusCode()).as("public %s", path).isEqualTo(404);
            assertThat(get(app.managementPort(), path).statusCode()).as("management %s", path).isEqualTo(200);
        }
        HttpResponse<String> health = get(app.port(), "/health");
        assertThat(health.statusCode()).isEqualTo(200);
        assertThat(health.body()).isEqualTo("{\"status\":\"UP\"}");
        JsonNode details = UsersServiceTest.json(get(app.managementPort(), "/health"));
        assertThat(details.path("status").asText()).isEqualTo("UP");
        assertThat(details.path("database").asText()).isEqualTo("UP");
        assertThat(app.banner()).contains("serving http://0.0.0.0:" + app.port() + "/",
                "management http://127.0.0.1:" + app.managementPort() + "/");
    }

    @Test
    void byDefaultTheManagementListenerIsOnLoopbackOnlyAndThePublicOneOnEveryAddress() throws Exception {
        AppConfig config = AppConfig.resolve(List.of("--port", "0", "--management-port", "0", "--backend", "nio",
                "--data-dir", tmp.toString()), Map.of());
        app = UsersApp.start(config);
        // Linux routes all of 127/8 to the loopback interface: a wildcard listener takes 127.0.0.2, one
        // bound to 127.0.0.1 does not
        assertThat(connects("127.0.0.2", app.port())).as("public listener on 127.0.0.2").isTrue();
        assertThat(connects("127.0.0.1", app.managementPort())).as("management on 127.0.0.1").isTrue();
        assertThat(connects("127.0.0.2", app.managementPort())).as("management on 127.0.0.2").isFalse();
    }

    private static boolean connects(String host, int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, port), 2000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    @Test
    void theManagementListenersRequestsStayOutOfTheServicesHttpMetrics() throws Exception {
        app = UsersApp.start(UsersServiceTest.testConfig(DatabaseConfig.defaults(tmp), tmp));
        int publicRequests = 5;
        for (int i = 0; i < publicRequests; i++) {
            assertThat(get(app.port(), "/json").statusCode()).isEqualTo(200);
        }
        for (int i = 0; i < 3; i++) {
            for (String path : MANAGEMENT_PATHS) {
                assertThat(get(app.managementPort(), path).statusCode()).isEqualTo(200);
            }
            assertThat(get(app.managementPort(), "/health").statusCode()).isEqualTo(200);
            assertThat(get(app.managementPort(), "/nowhere").statusCode()).isEqualTo(404);
        }
        String scrape = get(app.managementPort(), "/metrics").body();
        assertThat(requests(scrape, "/json")).isEqualTo(publicRequests);
        for (String route : List.of("/metrics", "/stats", "/health", "/stellane/dashboard", "/stellane/dashboard/data",
                "NOT_FOUND")) {
            assertThat(requests(scrape, route)).as("requests counted for %s", route).isZero();
        }
        JsonNode data = UsersServiceTest.JSON.readTree(get(app.managementPort(), "/stellane/dashboard/data").body());
        assertThat(data.at("/http/requests").asLong()).as("the dashboard's request count").isEqualTo(publicRequests);
    }

    @Test
    void servingThemOnThePublicPortTooIsAnExplicitOption() throws Exception {
        app = UsersApp.start(UsersServiceTest.testConfig(DatabaseConfig.defaults(tmp), tmp, true));
        assertThat(get(app.port(), "/json").statusCode()).isEqualTo(200);
        for (String path : MANAGEMENT_PATHS) {
            assertThat(get(app.port(), path).statusCode()).as("public %s", path).isEqualTo(200);
            assertThat(get(app.managementPort(), path).statusCode()).as("management %s", path).isEqualTo(200);
        }
        assertThat(UsersServiceTest.json(get(app.port(), "/health")).path("database").asText()).isEqualTo("UP");
        // on the public port they are the public server's traffic, and counted as such
        assertThat(requests(get(app.port(), "/metrics").body(), "/stats")).isEqualTo(1);
        assertThat(app.banner()).contains("also on the public port");
    }

    @Test
    void aTakenManagementPortFailsTheStartNamingItAndReleasesEverything() throws Exception {
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            AppConfig c = UsersServiceTest.testConfig(DatabaseConfig.defaults(tmp), tmp);
            AppConfig config = new AppConfig(c.runtime(), c.host(), c.port(), c.server(),
                    new AppConfig.Management("127.0.0.1", taken.getLocalPort(), false), c.database(), c.dataDir(), null);
            assertThatThrownBy(() -> UsersApp.start(config))
                    .hasMessageStartingWith("cannot listen on 127.0.0.1:" + taken.getLocalPort() + " (management)");
        }
        assertThat(io.stellane.runtime.Runtime.isRunning()).isFalse();
        // the database was closed too: a second start opens it again
        app = UsersApp.start(UsersServiceTest.testConfig(DatabaseConfig.defaults(tmp), tmp));
        assertThat(get(app.port(), "/health").statusCode()).isEqualTo(200);
    }
}
