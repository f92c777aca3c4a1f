package io.stellane.backend;

import io.stellane.backend.spi.BackendProvider;

/** Providers found through META-INF/services in the test class path. */
public final class TestBackendProviders {
    private TestBackendProviders() {
    }

    /** A working backend discovered by ServiceLoader. */
    public static final class Discovered implements BackendProvider {
        @Override
        public String name() {
            return "test-discovered";
        }

        @Override
        public EventLoopBackend create() {
            return new CustomEventLoop();
        }
    }

    /** A backend this platform "cannot run". */
    public static final class Unavailable implements BackendProvider {
        @Override
        public String name() {
            return "test-unavailable";
        }

        @Override
        public boolean isAvailable() {
            return false;
        }

        @Override
        public String unavailabilityCause() {
            return "needs a quantum NIC";
        }

        @Override
        public EventLoopBackend create() {
            throw new AssertionError("must not be created");
        }
    }
}
