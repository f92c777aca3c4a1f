package io.stellane.server;

class EpollProtocolDefenceTest extends ProtocolDefenceSuite {
    @Override
    String backend() {
        return "epoll";
    }
}
