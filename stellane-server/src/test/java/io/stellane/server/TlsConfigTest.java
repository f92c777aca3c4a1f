package io.stellane.server;

import com.fasterxml.jackson.databind.JsonNode;
import io.stellane.config.ConfigException;
import io.stellane.server.testing.TestPki;
import io.stellane.config.ConfigLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@code [server.tls]} in TOML and {@link TlsConfig}'s own checks. */
class TlsConfigTest {
    @TempDir
    Path dir;

    private ServerConfig server(String toml) throws Exception {
        Path f = Files.writeString(dir.resolve("s.toml"), toml);
        JsonNode tree = ConfigLoader.readTomlTree(f);
        return ServerConfig.fromToml("server", tree.get("server"), ServerConfig.defaults(), Set.of("host", "port"));
    }

    @Test
    void aTlsTableReadsEveryKey() throws Exception {
        ServerConfig c = server("""
                [server]
                port = 8443
                max_body_size = "1MiB"
                [server.tls]
                certificate = "/etc/tls/cert.pem"
                private_key = "/etc/tls/key.pem"
                client_auth = "required"
                client_ca = "/etc/tls/clients.pem"
                engine = "jdk"
                protocols = ["TLSv1.3"]
                ciphers = ["TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"]
                handshake_timeout = "5s"
                reload_interval = "1m"
                """);
        assertThat(c.maxBodySize()).isEqualTo(1 << 20);
        assertThat(c.tls()).isEqualTo(new TlsConfig(Path.of("/etc/tls/cert.pem"), Path.of("/etc/tls/key.pem"),
                TlsConfig.ClientAuth.REQUIRED, Path.of("/etc/tls/clients.pem"), TlsConfig.Engine.JDK,
                List.of("TLSv1.3"), List.of("TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"),
                Duration.ofSeconds(5), Duration.ofMinutes(1)));
    }

    @Test
    void certificateAndKeyAloneGiveTheDefaults() throws Exception {
        ServerConfig c = server("""
                [server.tls]
                certificate = "cert.pem"
                private_key = "key.pem"
                """);
        assertThat(c.tls()).isEqualTo(TlsConfig.of(Path.of("cert.pem"), Path.of("key.pem")));
        assertThat(c.tls().engine()).isEqualTo(TlsConfig.Engine.AUTO);
        assertThat(c.tls().protocols()).containsExactly("TLSv1.3", "TLSv1.2");
        assertThat(c.tls().ciphers()).isEqualTo(TlsConfig.DEFAULT_CIPHERS);
        assertThat(c.tls().handshakeTimeout()).isEqualTo(Duration.ofSeconds(10));
        assertThat(server("[server]\nport = 1\n").tls()).as("no table: cleartext").isNull();
    }

    @Test
    void badValuesAreNamedWithWhatIsAllowed() {
        String head = "[server.tls]\ncertificate = \"c.pem\"\nprivate_key = \"k.pem\"\n";
        assertThatThrownBy(() -> server("[server.tls]\ncertificate = \"c.pem\"\n")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("server.tls.private_key").hasMessageContaining("missing");
        assertThatThrownBy(() -> server(head + "engine = \"boringssl\"\n"))
                .hasMessageContaining("server.tls.engine = \"boringssl\"").hasMessageContaining("\"auto\", \"openssl\", \"jdk\"");
        assertThatThrownBy(() -> server(head + "protocols = [\"TLSv1.1\"]\n"))
                .hasMessageContaining("server.tls.protocols = \"TLSv1.1\"").hasMessageContaining("TLSv1.3");
        assertThatThrownBy(() -> server(head + "client_auth = \"maybe\"\n"))
                .hasMessageContaining("server.tls.client_auth").hasMessageContaining("\"none\", \"optional\", \"required\"");
        assertThatThrownBy(() -> server(head + "client_auth = \"required\"\n"))
                .hasMessageContaining("client_auth REQUIRED needs client_ca");
        assertThatThrownBy(() -> server(head + "client_ca = \"ca.pem\"\n"))
                .hasMessageContaining("client_ca is set but client_auth is NONE");
        assertThatThrownBy(() -> server(head + "handshake_timeout = \"0s\"\n"))
                .hasMessageContaining("server.tls.handshake_timeout = \"0s\"");
        assertThatThrownBy(() -> server(head + "ciphers = []\n")).hasMessageContaining("server.tls.ciphers");
        assertThatThrownBy(() -> server(head + "sni = true\n"))
                .hasMessageContaining("server.tls.sni").hasMessageContaining("unknown key");
        assertThatThrownBy(() -> server("[server]\ntls = \"on\"\n")).hasMessageContaining("server.tls = \"on\"");
    }

    @Test
    void changesAreNamedPerKey() {
        TlsConfig a = TlsConfig.of(Path.of("a.pem"), Path.of("a.key"));
        TlsConfig b = a.toBuilder().certificate(Path.of("b.pem")).handshakeTimeout(Duration.ofSeconds(3)).build();
        ServerConfig sa = ServerConfig.builder().tls(a).build();
        assertThat(sa.changesTo(sa.toBuilder().tls(b).build())).extracting(ch -> ch.key())
                .containsExactly("server.tls.certificate", "server.tls.handshake_timeout");
        assertThat(ServerConfig.defaults().changesTo(sa)).extracting(ch -> ch.key()).containsExactly("server.tls");
    }

    @Test
    void ciphersNoEngineKnowsStopTheStart(@TempDir Path files) {
        TestPki.Issued ca = TestPki.ca("c");
        TestPki.Issued cert = TestPki.server(ca);
        TlsConfig tls = TlsConfig.of(cert.writeCert(files.resolve("c.pem")), cert.writeKey(files.resolve("k.pem")))
                .toBuilder().engine(TlsConfig.Engine.JDK).ciphers(List.of("TLS_NO_SUCH_CIPHER")).build();
        assertThatThrownBy(() -> TlsContext.open(tls, org.slf4j.LoggerFactory.getLogger(TlsConfigTest.class)))
                .isInstanceOf(ConfigException.class).hasMessageContaining("tls.ciphers")
                .hasMessageContaining("TLS_NO_SUCH_CIPHER");
    }
}
