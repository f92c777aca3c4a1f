package io.stellane.server;

class EpollHostileClientTest extends HostileClientSuite {
    @Override
    String backend() {
        return "epoll";
    }
}
