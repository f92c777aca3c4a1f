package io.stellane.server;

class IoUringProtocolDefenceTest extends ProtocolDefenceSuite {
    @Override
    String backend() {
        return "io_uring";
    }
}
