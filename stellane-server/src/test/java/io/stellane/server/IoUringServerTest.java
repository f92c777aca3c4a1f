package io.stellane.server;

class IoUringServerTest extends ServerSuite {
    @Override
    String backend() {
        return "io_uring";
    }
}
