package io.stellane.testing.server;

import io.stellane.testing.ServerTest;

@ServerTest(backend = "epoll")
class EpollServerApiTest extends ServerApiSuite {
}
