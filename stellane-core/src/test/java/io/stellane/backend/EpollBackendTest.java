package io.stellane.backend;

class EpollBackendTest extends EventLoopBackendConformanceTest {
    @Override
    protected String backend() {
        return "epoll";
    }
}
