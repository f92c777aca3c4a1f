package io.stellane.examples;

import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import io.stellane.server.Server;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static io.stellane.examples.UsersServiceTest.call;
import static org.assertj.core.api.Assertions.assertThat;

/** The benchmark app answers as the TechEmpower rules (and the raw Netty peer) do. */
class TechEmpowerAppTest {
    private Server server;
    private int port;

    @BeforeEach
    void start() {
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(1).build());
        server = TechEmpowerApp.routes(new Server());
        port = server.listen("127.0.0.1", 0);
    }

    @AfterEach
    void stop() {
        server.stop();
        Runtime.stop();
    }

    @Test
    void plaintext() throws Exception {
        UsersServiceTest.assertTechEmpowerPlaintext(call(port, "GET", "/plaintext", null));
    }

    @Test
    void json() throws Exception {
        UsersServiceTest.assertTechEmpowerJson(call(port, "GET", "/json", null));
    }

    @Test
    void nothingElse() throws Exception {
        assertThat(call(port, "GET", "/users", null).statusCode()).isEqualTo(404);
        assertThat(call(port, "POST", "/plaintext", "x").statusCode()).isEqualTo(405);
    }
}
