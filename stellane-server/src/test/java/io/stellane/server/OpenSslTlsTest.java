package io.stellane.server;

import io.netty.handler.ssl.OpenSsl;
import org.junit.jupiter.api.BeforeAll;

import static org.assertj.core.api.Assertions.assertThat;

class OpenSslTlsTest extends TlsSuite {
    @BeforeAll
    static void openSslLoads() {
        // netty-tcnative-boringssl-static is a dependency for linux-x86_64: there it must load
        assertThat(OpenSsl.isAvailable()).as("OpenSSL loads: %s", OpenSsl.unavailabilityCause()).isTrue();
    }

    @Override
    TlsConfig.Engine engine() {
        return TlsConfig.Engine.OPENSSL;
    }

    @Override
    String engineName() {
        return "openssl";
    }
}
