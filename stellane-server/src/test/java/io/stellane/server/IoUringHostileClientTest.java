package io.stellane.server;

class IoUringHostileClientTest extends HostileClientSuite {
    @Override
    String backend() {
        return "io_uring";
    }
}
