package io.stellane.testing.server;

import io.stellane.testing.ServerTest;

@ServerTest(backend = "io_uring")
class IoUringServerApiTest extends ServerApiSuite {
}
