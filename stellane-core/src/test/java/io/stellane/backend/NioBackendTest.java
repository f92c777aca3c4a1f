package io.stellane.backend;

class NioBackendTest extends EventLoopBackendConformanceTest {
    @Override
    protected String backend() {
        return "nio";
    }
}
