package io.stellane.backend;

import io.netty.channel.epoll.Epoll;
import io.netty.channel.uring.IoUring;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RuntimeFactoryTest {

    @Test
    void listsTheBuiltInBackendsAndTheAliases() {
        assertThat(RuntimeFactory.listBackends()).contains("nio", "epoll", "io_uring", "auto", "libuv");
        assertThat(RuntimeFactory.hasBackend("nio")).isTrue();
        assertThat(RuntimeFactory.hasBackend("auto")).isTrue();
        assertThat(RuntimeFactory.hasBackend("kqueue-on-linux")).isFalse();
        assertThat(RuntimeFactory.available()).contains("nio");
    }

    @Test
    void autoPicksIoUringThenEpollThenNio() {
        String expected = IoUring.isAvailable() ? "io_uring" : Epoll.isAvailable() ? "epoll" : "nio";
        assertThat(RuntimeFactory.resolve("auto")).isEqualTo(expected);
        assertThat(RuntimeFactory.createBackend("auto")).isInstanceOf(NettyBackend.class)
                .extracting(b -> ((NettyBackend) b).name()).isEqualTo(expected);
    }

    @Test
    void libuvIsThePortableBackend() {
        assertThat(RuntimeFactory.resolve("libuv")).isEqualTo("nio");
        assertThat(((NettyBackend) RuntimeFactory.createBackend("libuv")).name()).isEqualTo("nio");
    }

    @Test
    void eachCreateGivesANewBackend() {
        assertThat(RuntimeFactory.createBackend("nio")).isNotSameAs(RuntimeFactory.createBackend("nio"));
    }

    @Test
    void anUnknownBackendFailsNamingWhatIsAvailable() {
        assertThatThrownBy(() -> RuntimeFactory.createBackend("dpdk"))
                .isInstanceOf(BackendException.class)
                .hasMessageContaining("Backend 'dpdk' error")
                .hasMessageContaining("unknown backend")
                .hasMessageContaining("nio");
    }

    @Test
    void aBackendThePlatformCannotRunFailsWithItsCauseAndTheAlternatives() {
        assertThat(RuntimeFactory.hasBackend("test-unavailable")).isTrue();
        assertThat(RuntimeFactory.isAvailable("test-unavailable")).isFalse();
        assertThatThrownBy(() -> RuntimeFactory.createBackend("test-unavailable"))
                .isInstanceOf(BackendException.class)
                .hasMessageContaining("not available on this platform")
                .hasMessageContaining("needs a quantum NIC")
                .hasMessageContaining("available: [");
    }

    @Test
    void providersOnTheClassPathAreDiscovered() {
        assertThat(RuntimeFactory.listBackends()).contains("test-discovered");
        assertThat(RuntimeFactory.createBackend("test-discovered")).isInstanceOf(CustomEventLoop.class);
    }

    @Test
    void registeredBackendsCanBeCreatedAndRemoved() {
        RuntimeFactory.registerBackend("mine", CustomEventLoop::new);
        try {
            assertThat(RuntimeFactory.hasBackend("mine")).isTrue();
            assertThat(RuntimeFactory.createBackend("mine")).isInstanceOf(CustomEventLoop.class);
        } finally {
            assertThat(RuntimeFactory.unregisterBackend("mine")).isTrue();
        }
        assertThat(RuntimeFactory.hasBackend("mine")).isFalse();
    }

    @Test
    void reservedAndBuiltInNamesAreProtected() {
        assertThatThrownBy(() -> RuntimeFactory.registerBackend("auto", CustomEventLoop::new)).isInstanceOf(BackendException.class);
        assertThatThrownBy(() -> RuntimeFactory.registerBackend(" ", CustomEventLoop::new)).isInstanceOf(BackendException.class);
        assertThatThrownBy(() -> RuntimeFactory.unregisterBackend("epoll")).isInstanceOf(BackendException.class);
    }

    @Test
    void aBuilderReturningNullIsReported() {
        RuntimeFactory.registerBackend("null-builder", () -> null);
        try {
            assertThatThrownBy(() -> RuntimeFactory.createBackend("null-builder")).hasMessageContaining("returned null");
        } finally {
            RuntimeFactory.unregisterBackend("null-builder");
        }
    }
}
