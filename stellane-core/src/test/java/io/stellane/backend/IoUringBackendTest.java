package io.stellane.backend;

class IoUringBackendTest extends EventLoopBackendConformanceTest {
    @Override
    protected String backend() {
        return "io_uring";
    }
}
