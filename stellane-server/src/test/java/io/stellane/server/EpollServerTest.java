package io.stellane.server;

class EpollServerTest extends ServerSuite {
    @Override
    String backend() {
        return "epoll";
    }
}
