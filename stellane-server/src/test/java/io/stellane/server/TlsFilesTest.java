package io.stellane.server;

import io.stellane.config.ConfigException;
import io.stellane.server.testing.TestPki;
import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.StellaneRuntime;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * What is wrong with a certificate or key stops the start with a message naming the file and the
 * problem; and the key formats that are accepted.
 */
class TlsFilesTest {
    static TestPki.Issued ca;
    static StellaneRuntime runtime;

    @TempDir
    Path dir;

    @BeforeAll
    static void setUp() {
        ca = TestPki.ca("Files CA");
        runtime = StellaneRuntime.create("tls-files");
        runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(1).shutdownTimeout(Duration.ofSeconds(5)).build());
    }

    @AfterAll
    static void tearDown() {
        runtime.stop();
    }

    /** Listens with {@code tls}: the error it stops with, or null after a successful listen (then stopped). */
    private static ConfigException listenError(TlsConfig tls) {
        Server s = new Server(runtime, ServerConfig.builder().tls(tls).build());
        s.get("/", ctx -> io.stellane.task.Task.completed(Response.text("x")));
        try {
            s.listen("127.0.0.1", 0);
            return null;
        } catch (ConfigException e) {
            return e;
        } finally {
            s.stop(Duration.ofSeconds(1));
        }
    }

    private TlsConfig pair(TestPki.Issued cert, TestPki.Issued key) {
        return TlsConfig.of(cert.writeCert(dir.resolve("cert.pem")), key.writeKey(dir.resolve("key.pem")));
    }

    @Test
    void anExpiredCertificateStopsTheStartNamingTheFileAndTheDates() {
        Instant notAfter = Instant.now().minus(Duration.ofDays(1));
        TestPki.Issued expired = TestPki.server(ca, TestPki.serial(), Instant.now().minus(Duration.ofDays(30)),
                notAfter, TestPki.ecKeys());
        ConfigException e = listenError(pair(expired, expired));
        assertThat(e).isNotNull();
        assertThat(e.getMessage()).contains(dir.resolve("cert.pem").toString()).contains("expired at")
                .contains(expired.serial().toString(16)).contains("tls.certificate");
    }

    @Test
    void aCertificateNotYetValidStopsTheStart() {
        TestPki.Issued future = TestPki.server(ca, TestPki.serial(), Instant.now().plus(Duration.ofDays(2)),
                Instant.now().plus(Duration.ofDays(30)), TestPki.ecKeys());
        assertThat(listenError(pair(future, future)).getMessage()).contains(dir.resolve("cert.pem").toString())
                .contains("not yet valid");
    }

    @Test
    void aKeyOfAnotherCertificateStopsTheStartNamingBothFiles() {
        TestPki.Issued cert = TestPki.server(ca);
        TestPki.Issued other = TestPki.server(ca);
        assertThat(listenError(pair(cert, other)).getMessage()).contains(dir.resolve("key.pem").toString())
                .contains("does not match the certificate in " + dir.resolve("cert.pem"));
        TestPki.Issued rsa = TestPki.server(ca, TestPki.serial(), Instant.now().minusSeconds(60),
                Instant.now().plus(Duration.ofDays(1)), TestPki.rsaKeys());
        assertThat(listenError(pair(cert, rsa)).getMessage()).contains("the key (RSA) does not match");
    }

    @Test
    void aFileThatIsMissingOrNotPemStopsTheStart() throws Exception {
        TestPki.Issued cert = TestPki.server(ca);
        TlsConfig ok = pair(cert, cert);
        assertThat(listenError(ok.toBuilder().certificate(dir.resolve("nowhere.pem")).build()).getMessage())
                .contains(dir.resolve("nowhere.pem").toString()).contains("cannot be read");

        Path der = Files.write(dir.resolve("cert.der"), cert.cert().getEncoded());
        assertThat(listenError(ok.toBuilder().certificate(der).build()).getMessage())
                .contains(der.toString()).contains("not PEM");

        Path garbage = Files.writeString(dir.resolve("garbage.pem"), "-----BEGIN CERTIFICATE-----\nnot*base64\n-----END CERTIFICATE-----\n");
        assertThat(listenError(ok.toBuilder().certificate(garbage).build()).getMessage()).contains(garbage.toString());

        Path keyAsCert = ok.privateKey();
        assertThat(listenError(ok.toBuilder().certificate(keyAsCert).build()).getMessage())
                .contains(keyAsCert.toString()).contains("no CERTIFICATE");

        Path encrypted = Files.writeString(dir.resolve("enc.key"), TestPki.pem("ENCRYPTED PRIVATE KEY", new byte[]{1, 2, 3}));
        assertThat(listenError(ok.toBuilder().privateKey(encrypted).build()).getMessage())
                .contains(encrypted.toString()).contains("encrypted");

        Path sec1 = Files.writeString(dir.resolve("ec.key"), TestPki.pem("EC PRIVATE KEY", new byte[]{1, 2, 3}));
        assertThat(listenError(ok.toBuilder().privateKey(sec1).build()).getMessage())
                .contains(sec1.toString()).contains("openssl pkcs8 -topk8");

        Path clientCa = Files.writeString(dir.resolve("ca.pem"), "nothing here");
        assertThat(listenError(ok.toBuilder().clientAuth(TlsConfig.ClientAuth.REQUIRED, clientCa).build()).getMessage())
                .contains("tls.client_ca").contains(clientCa.toString()).contains("not PEM");
    }

    @Test
    void aGoodPairListensAndRsaKeysInPkcs1AreAcceptedToo() {
        TestPki.Issued ec = TestPki.server(ca);
        assertThat(listenError(pair(ec, ec))).isNull();

        TestPki.Issued rsa = TestPki.server(ca, TestPki.serial(), Instant.now().minusSeconds(60),
                Instant.now().plus(Duration.ofDays(1)), TestPki.rsaKeys());
        Path cert = rsa.writeCert(dir.resolve("rsa.pem"));
        Path pkcs1 = rsa.writeRsaPkcs1Key(dir.resolve("rsa.key"));
        assertThat(listenError(TlsConfig.of(cert, pkcs1))).isNull();
        assertThat(TlsMaterial.load(TlsConfig.of(cert, pkcs1)).key().getEncoded()).isEqualTo(rsa.key().getEncoded());
    }

    @Test
    void theChosenEngineIsTheOneInUse() {
        TestPki.Issued cert = TestPki.server(ca);
        TlsConfig tls = pair(cert, cert);
        for (TlsConfig.Engine engine : TlsConfig.Engine.values()) {
            Server s = new Server(runtime, ServerConfig.builder().tls(tls.toBuilder().engine(engine).build()).build());
            try {
                s.listen("127.0.0.1", 0);
                // netty-tcnative is on this module's class path, and loads on linux-x86_64
                assertThat(s.tlsContext().engine()).as("engine %s", engine).isEqualTo(engine == TlsConfig.Engine.JDK ? "jdk" : "openssl");
            } finally {
                s.stop(Duration.ofSeconds(1));
            }
        }
    }
}
