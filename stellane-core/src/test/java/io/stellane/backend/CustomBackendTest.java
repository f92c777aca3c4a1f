package io.stellane.backend;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** The spec's custom backend, registered at run time, passes the same suite as the built-in ones. */
class CustomBackendTest extends EventLoopBackendConformanceTest {
    @BeforeAll
    static void register() {
        RuntimeFactory.registerBackend("custom", CustomEventLoop::new);
    }

    @AfterAll
    static void unregister() {
        RuntimeFactory.unregisterBackend("custom");
    }

    @Override
    protected String backend() {
        return "custom";
    }
}
