package com.example.quickstart;

import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import io.stellane.server.Server;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;

class HelloTest {
    private Server server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.stop(Duration.ofSeconds(2));
        }
        Runtime.stop();
    }

    @Test
    void helloAnswersOnAnyFreePort() throws Exception {
        Runtime.init(RuntimeConfig.defaults());
        server = Hello.server();
        int port = server.listen("127.0.0.1", 0);

        HttpResponse<String> response = HttpClient.newHttpClient().send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/hello")).build(),
                HttpResponse.BodyHandlers.ofString());

        assertEquals(200, response.statusCode());
        assertEquals("Hello, Stellane!", response.body());
    }
}
