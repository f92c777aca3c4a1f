package io.stellane.testing.server;

import io.stellane.testing.ServerTest;

@ServerTest(backend = "nio")
class NioServerApiTest extends ServerApiSuite {
}
