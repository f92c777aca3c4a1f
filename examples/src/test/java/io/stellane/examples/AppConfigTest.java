package io.stellane.examples;

import io.stellane.config.ConfigException;
import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import io.stellane.scheduler.TaskSchedulingStrategy;
import io.stellane.server.ServerConfig;
import io.stellane.server.TlsConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Where the config comes from (file, environment, flags), how it fails, and the app's exit codes. */
class AppConfigTest {
    @TempDir
    Path tmp;

    private static final String FILE = """
            [runtime]
            backend = "epoll"
            worker_threads = 3
            strategy = "fifo"

            [runtime.recovery]
            enabled = true
            backend = "mmap"

            [server]
            host = "127.0.0.1"
            port = 1234

            [management]
            host = "10.0.0.7"
            port = 1235
            serve_on_public_port = true

            [database]
            pool_size = 4
            """;

    private Path write(String toml) throws Exception {
        Path f = Files.createTempFile(tmp, "stellane", ".toml");
        Files.writeString(f, toml);
        return f;
    }

    private static List<String> args(String... a) {
        return new ArrayList<>(List.of(a));
    }

    /** What {@link UsersService#run} printed and returned. */
    record Outcome(int code, String out, String err) {
    }

    private static Outcome run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = UsersService.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Outcome(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void theFileSetsRuntimeServerAndDatabase() throws Exception {
        Path f = write(FILE);
        AppConfig c = AppConfig.resolve(args("--config", f.toString(), "--data-dir", tmp.resolve("d").toString()), Map.of());
        assertThat(c.configFile()).isEqualTo(f);
        assertThat(c.runtime().backendType()).isEqualTo("epoll");
        assertThat(c.runtime().workerThreads()).isEqualTo(3);
        assertThat(c.runtime().strategy()).isEqualTo(TaskSchedulingStrategy.FIFO);
        assertThat(c.runtime().enableRequestRecovery()).isTrue();
        assertThat(c.host()).isEqualTo("127.0.0.1");
        assertThat(c.port()).isEqualTo(1234);
        assertThat(c.management()).isEqualTo(new AppConfig.Management("10.0.0.7", 1235, true));
        assertThat(c.database().poolSize()).isEqualTo(4);
        assertThat(c.database().jdbcUrl()).startsWith("jdbc:h2:private:" + tmp.resolve("d").toAbsolutePath() + "/users");
        // the file does not set runtime.recovery.path: the journal lives in the data directory
        assertThat(c.runtime().recoveryPath()).isEqualTo(tmp.resolve("d").resolve("journal"));
    }

    @Test
    void tlsComesFromTheTablesAndTheFlagsReplaceOnlyCertificateAndKey() throws Exception {
        Path f = write("""
                [server]
                port = 8443
                [server.tls]
                certificate = "/etc/tls/a.pem"
                private_key = "/etc/tls/a.key"
                engine = "jdk"
                handshake_timeout = "3s"
                [management.tls]
                certificate = "/etc/tls/m.pem"
                private_key = "/etc/tls/m.key"
                """);
        AppConfig c = AppConfig.resolve(args("--config", f.toString()), Map.of());
        assertThat(c.server().tls().certificate()).isEqualTo(Path.of("/etc/tls/a.pem"));
        assertThat(c.server().tls().engine()).isEqualTo(TlsConfig.Engine.JDK);
        assertThat(c.management().tls()).isEqualTo(TlsConfig.of(Path.of("/etc/tls/m.pem"), Path.of("/etc/tls/m.key")));

        AppConfig flagged = AppConfig.resolve(args("--config", f.toString(), "--tls-cert", "/run/b.pem",
                "--tls-key=/run/b.key"), Map.of());
        assertThat(flagged.server().tls()).isEqualTo(c.server().tls().toBuilder()
                .certificate(Path.of("/run/b.pem")).privateKey(Path.of("/run/b.key")).build());

        Path plain = write("[server]\nport = 8443\n");
        AppConfig flagsOnly = AppConfig.resolve(args("--config", plain.toString(), "--tls-cert", "c.pem",
                "--tls-key", "k.pem"), Map.of());
        assertThat(flagsOnly.server().tls()).isEqualTo(TlsConfig.of(Path.of("c.pem"), Path.of("k.pem")));
        assertThat(flagsOnly.management().tls()).isNull();
        assertThat(AppConfig.resolve(args("--config", plain.toString()), Map.of()).server().tls()).isNull();
    }

    @Test
    void tlsMistakesAreNamed() throws Exception {
        assertThatThrownBy(() -> AppConfig.resolve(args("--tls-cert", "c.pem"), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("--tls-cert").hasMessageContaining("--tls-key");
        assertThatThrownBy(() -> AppConfig.resolve(args("--tls-key", "k.pem"), Map.of()))
                .hasMessageContaining("--tls-key").hasMessageContaining("needs --tls-cert");
        Path f = write("[management.tls]\ncertificate = \"m.pem\"\nprivate_key = \"m.key\"\nclient_auth = \"always\"\n");
        assertThatThrownBy(() -> AppConfig.resolve(args("--config", f.toString()), Map.of()))
                .hasMessageContaining("management.tls.client_auth = \"always\"");
    }

    @Test
    void flagsOverrideTheFile() throws Exception {
        Path f = write(FILE);
        AppConfig c = AppConfig.resolve(args("--config", f.toString(), "--port", "0", "--host", "::1",
                "--management-port", "9999", "--management-host", "::1",
                "--backend", "nio", "--data-dir", tmp.resolve("x").toString()), Map.of());
        assertThat(c.port()).isZero();
        assertThat(c.host()).isEqualTo("::1");
        assertThat(c.management()).isEqualTo(new AppConfig.Management("::1", 9999, true)); // the option from the file
        assertThat(c.runtime().backendType()).isEqualTo("nio");
        assertThat(c.runtime().workerThreads()).isEqualTo(3); // not overridden: from the file
        assertThat(c.dataDir()).isEqualTo(tmp.resolve("x"));
        assertThat(c.runtime().recoveryPath()).isEqualTo(tmp.resolve("x").resolve("journal"));
    }

    @Test
    void theEnvironmentOverridesTheFileAndFlagsOverrideTheEnvironment() throws Exception {
        Path f = write(FILE);
        Map<String, String> env = Map.of("STELLANE_RUNTIME_WORKER_THREADS", "5", "STELLANE_RUNTIME_BACKEND", "io_uring",
                "STELLANE_RUNTIME_RECOVERY_PATH", tmp.resolve("elsewhere").toString());
        AppConfig c = AppConfig.resolve(args("--config", f.toString(), "--backend", "nio"), env);
        assertThat(c.runtime().workerThreads()).isEqualTo(5);
        assertThat(c.runtime().backendType()).isEqualTo("nio");
        assertThat(c.runtime().recoveryPath()).isEqualTo(tmp.resolve("elsewhere"));
    }

    @Test
    void aRecoveryPathInTheFileIsKept() throws Exception {
        Path f = write("[runtime.recovery]\nenabled = true\npath = \"" + tmp.resolve("j") + "\"\n");
        AppConfig c = AppConfig.resolve(args("--config", f.toString()), Map.of());
        assertThat(c.runtime().recoveryPath()).isEqualTo(tmp.resolve("j"));
    }

    @Test
    void theRepositorysFileIsValidAndKeepsTheManagementListenerOnLoopback() {
        Path file = Path.of(System.getProperty("basedir", "."), "..", "stellane.toml");
        AppConfig c = AppConfig.resolve(args("--config", file.toString()), Map.of());
        assertThat(c.management()).isEqualTo(AppConfig.Management.defaults());
        assertThat(c.management().host()).isEqualTo("127.0.0.1");
        assertThat(c.port()).isEqualTo(AppConfig.DEFAULT_PORT);
    }

    @Test
    void withoutFileOrFlagsTheDefaultsApply() {
        // the tests run in examples/, which has no stellane.toml
        AppConfig c = AppConfig.resolve(args(), Map.of());
        assertThat(c.configFile()).isNull();
        assertThat(c.host()).isEqualTo("0.0.0.0");
        assertThat(c.port()).isEqualTo(8080);
        assertThat(c.management()).isEqualTo(new AppConfig.Management("127.0.0.1", 8081, false));
        assertThat(c.dataDir()).isEqualTo(Path.of("data"));
        assertThat(c.runtime().recoveryPath()).isEqualTo(Path.of("data", "journal"));
        assertThat(c.runtime().backendType()).isEqualTo(RuntimeConfig.defaults().backendType());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            unknown [server] key      | [server]\\nhots = "x"                  | server.hots
            port out of range         | [server]\\nport = 70000                | server.port
            port as a string          | [server]\\nport = "80"                 | server.port
            host not a string         | [server]\\nhost = 5                    | server.host
            server limit of bad size  | [server]\\nmax_body_size = "4MB"      | server.max_body_size
            server limit negative     | [server]\\nmax_connections = -1      | server.max_connections
            server timeout as number  | [server]\\nwrite_timeout = 30        | server.write_timeout
            server limits misfit      | [server]\\nwrite_high_water_mark = "2MiB" | server
            reuse_port as a string    | [server]\\nreuse_port = "yes"      | server.reuse_port
            unknown [management] key  | [management]\\nprot = 9000           | management.prot
            management port too big   | [management]\\nport = 65536          | management.port
            management port a string  | [management]\\nport = "9000"         | management.port
            management host empty     | [management]\\nhost = ""             | management.host
            management not a table    | management = 9000                     | management
            serve_on_public_port text | [management]\\nserve_on_public_port = "yes" | management.serve_on_public_port
            both on one port          | [server]\\nport = 9000\\n[management]\\nport = 9000 | management.port
            unknown [database] key    | [database]\\nurll = "jdbc:h2:mem:x"    | database.urll
            unsupported database url  | [database]\\nurl = "jdbc:mysql://h/db" | database.url
            unknown [runtime] key     | [runtime]\\nworkers = 2                | runtime.workers
            bad runtime value         | [runtime]\\nworker_threads = 0         | runtime.worker_threads
            unknown table             | [serverr]\\nport = 1                   | serverr
            TOML syntax error         | [server\\nport = 1                     | .toml
            """)
    void aBadConfigFileExits2WithOneLineNamingTheKey(String what, String toml, String key) throws Exception {
        Path f = write(toml.replace("\\n", "\n"));
        Outcome o = run("--config", f.toString(), "--data-dir", tmp.resolve("d").toString());
        assertThat(o.code()).as(what).isEqualTo(2);
        assertThat(o.err()).as(what).startsWith("stellane: invalid config ").contains(key).endsWith("\n");
        assertThat(o.err().strip().lines()).as(what + ": " + o.err()).hasSize(1);
        assertThat(o.err()).doesNotContain("Exception", "\tat ");
        assertThat(o.out()).isEmpty();
        assertThat(tmp.resolve("d")).as("nothing is created for a bad config").doesNotExist();
    }

    @Test
    void theServerTableSetsThePublicServersLimits() throws Exception {
        AppConfig c = AppConfig.resolve(args("--config", write("""
                [server]
                port = 9000
                max_body_size = "512KiB"
                max_buffered_body_bytes = 33554432
                write_timeout = "5s"
                min_body_rate = 0
                max_connections_per_address = 10000
                reuse_port = true
                """).toString()), Map.of());
        assertThat(c.port()).isEqualTo(9000);
        assertThat(c.server()).isEqualTo(ServerConfig.defaults().toBuilder().maxBodySize(512 * 1024)
                .maxBufferedBodyBytes(32 << 20).writeTimeout(Duration.ofSeconds(5)).minBodyRate(0)
                .maxConnectionsPerAddress(10_000).reusePort(true).build());
        assertThat(run("--config", write("[server]\nmax_body_size = \"4MB\"\n").toString()).err())
                .isEqualTo("stellane: invalid config server.max_body_size = \"4MB\": 0 or more bytes and at most "
                        + "2147483639, as an integer or with a unit (\"64KiB\", \"4MiB\")\n");
        assertThat(run("--config", write("[server]\nreuse_port = 1\n").toString()).err())
                .isEqualTo("stellane: invalid config server.reuse_port = 1: true or false\n");
        assertThat(run("--config", write("[server]\nmax_bodysize = 1\n").toString()).err())
                .startsWith("stellane: invalid config server.max_bodysize = 1: unknown key; allowed keys in [server]: "
                        + "host, port, max_request_line_length,");
    }

    @Test
    void numbersAreShownAsNumbersAndStringsQuoted() throws Exception {
        assertThat(run("--config", write("[server]\nport = 99999\n").toString()).err())
                .isEqualTo("stellane: invalid config server.port = 99999: an integer from 0 to 65535\n");
        assertThat(run("--config", write("[server]\nport = \"80\"\n").toString()).err())
                .isEqualTo("stellane: invalid config server.port = \"80\": an integer from 0 to 65535\n");
    }

    @Test
    void managementErrorsNameTheKeyTheValueAndWhatIsAllowed() throws Exception {
        assertThat(run("--config", write("[management]\nhots = \"0.0.0.0\"\n").toString()).err())
                .isEqualTo("stellane: invalid config management.hots = \"0.0.0.0\": unknown key; allowed keys are host,"
                        + " port, serve_on_public_port, tls\n");
        assertThat(run("--config", write("[management]\nserve_on_public_port = 1\n").toString()).err())
                .isEqualTo("stellane: invalid config management.serve_on_public_port = 1: true or false\n");
        assertThat(run("--config", write("[management]\nport = 8080\n").toString()).err())
                .isEqualTo("stellane: invalid config management.port = 8080: a port other than the public one (8080);"
                        + " to serve metrics and the dashboard there too, set management.serve_on_public_port = true\n");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            --bogus        |          | --bogus
            --port         | abc      | --port
            --port         | -1       | --port
            --port         | 65536    | --port
            --management-port | x     | --management-port
            --management-port | 70000 | --management-port
            --management-port | 8080  | --management-port
            --management-host | ''    | --management-host
            --backend      | ''       | --backend
            --data-dir     |          | --data-dir
            """)
    void aBadFlagExits2WithOneLine(String flag, String value, String key) {
        Outcome o = value == null ? run(flag) : run(flag, value);
        assertThat(o.code()).isEqualTo(2);
        assertThat(o.err()).startsWith("stellane: invalid config " + key);
        assertThat(o.err().strip().lines()).hasSize(1);
    }

    @Test
    void everyOptionTakesItsValueAfterAnEqualsSignToo() throws Exception {
        Path f = write(FILE);
        AppConfig c = AppConfig.resolve(args("--config=" + f, "--port=0", "--host=::1", "--management-port=9999",
                "--management-host", "127.0.0.1", "--backend=nio", "--data-dir=" + tmp.resolve("x")), Map.of());
        assertThat(c.configFile()).isEqualTo(f);
        assertThat(c.port()).isZero();
        assertThat(c.host()).isEqualTo("::1");
        assertThat(c.management()).isEqualTo(new AppConfig.Management("127.0.0.1", 9999, true));
        assertThat(c.runtime().backendType()).isEqualTo("nio");
        assertThat(c.dataDir()).isEqualTo(tmp.resolve("x"));
        assertThat(AppConfig.resolve(args("--data-dir=" + tmp.resolve("a=b")), Map.of()).dataDir())
                .as("only the first '=' separates").isEqualTo(tmp.resolve("a=b"));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            --port=          | --port = "": an integer from 0 to 65535
            --port=80x       | --port = "80x": an integer from 0 to 65535
            --help=yes       | --help = "yes": no value; --help takes none
            --data-dir=      | --data-dir = "": a non-empty value
            --bogus=1        | --bogus: unknown option
            """)
    void aBadOptionWithAnEqualsSignExits2NamingIt(String arg, String message) {
        Outcome o = run(arg);
        assertThat(o.code()).isEqualTo(2);
        assertThat(o.err()).startsWith("stellane: invalid config " + message);
        assertThat(o.err().strip().lines()).hasSize(1);
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource(delimiter = '|', textBlock = """
            --host            | 999.1.1.1
            --host            | 1.2.3.4.5
            --host            | 127.0.0.1:8080
            --host            | ::zz
            --host            | no such host
            --host            | -bad-.example
            --host            | no-such-host.invalid
            --management-host | 256.0.0.1
            --management-host | no-such-host.invalid
            """)
    void aHostThatCannotBeBoundExits2NamingTheOptionTheValueAndWhatIsAllowed(String option, String host) {
        for (Outcome o : List.of(run(option, host, "--data-dir", tmp.resolve("d").toString()),
                run(option + "=" + host, "--data-dir", tmp.resolve("d").toString()))) {
            assertThat(o.code()).as(o.err()).isEqualTo(2);
            assertThat(o.err()).startsWith("stellane: invalid config " + option + " = \"" + host + "\": an IP address"
                    + " (e.g. 0.0.0.0, 127.0.0.1, ::1) or a host name that resolves (e.g. localhost)");
            assertThat(o.err().strip().lines()).hasSize(1);
            assertThat(o.err()).doesNotContain("null", "Exception");
        }
        assertThat(tmp.resolve("d")).as("nothing is started for a bad host").doesNotExist();
        assertThat(Runtime.isRunning()).isFalse();
    }

    @Test
    void aHostNameThatDoesNotResolveSaysSo() {
        assertThat(run("--host", "no-such-host.invalid").err()).endsWith("; this name does not resolve\n");
        assertThat(run("--host", "999.1.1.1").err()).doesNotContain("resolve\n");
    }

    @Test
    void aBadHostInTheFileIsNamedByItsKey() throws Exception {
        assertThat(run("--config", write("[server]\nhost = \"999.1.1.1\"\n").toString()).err())
                .startsWith("stellane: invalid config server.host = \"999.1.1.1\": an IP address");
        assertThat(run("--config", write("[management]\nhost = \"10.0.0.300\"\n").toString()).err())
                .startsWith("stellane: invalid config management.host = \"10.0.0.300\": an IP address");
    }

    @ParameterizedTest
    @CsvSource({"0.0.0.0", "127.0.0.1", "::", "::1", "[::1]", "localhost"})
    void addressesAndNamesThatResolveAreTakenAsGiven(String host) {
        assertThat(AppConfig.checkHost("--host", host)).isEqualTo(host);
    }

    @Test
    void aDataDirThatCannotBeCreatedExits1WithOneLineNamingItAndWhy() throws Exception {
        Path file = Files.createFile(tmp.resolve("plain"));
        Path dir = file.resolve("data");
        Outcome o = run("--data-dir", dir.toString(), "--host", "127.0.0.1", "--port", "0", "--management-port", "0");
        assertThat(o.code()).isEqualTo(1);
        assertThat(o.err()).isEqualTo("stellane: cannot start: cannot prepare the data directory " + dir
                + " (--data-dir): " + file + ": exists and is not a directory\n");
        assertThat(Runtime.isRunning()).isFalse();
    }

    @Test
    void anUnknownBackendExits2WithOneLine() throws Exception {
        Path f = write("[runtime.recovery]\nenabled = false\n");
        Outcome o = run("--config", f.toString(), "--backend", "warp_drive", "--port", "0", "--host", "127.0.0.1",
                "--management-port", "0", "--data-dir", tmp.resolve("d").toString());
        assertThat(o.code()).as(o.err()).isEqualTo(2);
        assertThat(o.err()).contains("warp_drive");
        assertThat(o.err().strip().lines()).hasSize(1);
        assertThat(Runtime.isRunning()).isFalse();
    }

    @Test
    @Timeout(30)
    void aTakenPortExits1WithOneLineAndReleasesEverything() throws Exception {
        Path f = write("[runtime]\nworker_threads = 1\n[runtime.recovery]\nenabled = false\n");
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            Outcome o = run("--config", f.toString(), "--backend", "nio", "--host", "127.0.0.1",
                    "--port", Integer.toString(taken.getLocalPort()), "--management-port", "0",
                    "--data-dir", tmp.resolve("d").toString());
            assertThat(o.code()).as(o.err()).isEqualTo(1);
            assertThat(o.err()).isEqualTo("stellane: cannot start: cannot listen on 127.0.0.1:" + taken.getLocalPort()
                    + ": address already in use; to share the port with another process, set reuse_port = true"
                    + " ([server] table, ServerConfig.reusePort) in every process that listens on it\n");
            assertThat(o.err().strip().lines()).hasSize(1);
        }
        assertThat(Runtime.isRunning()).isFalse();
    }

    @Test
    void helpPrintsEveryOptionAndExits0() {
        Outcome o = run("--help");
        assertThat(o.code()).isZero();
        assertThat(o.out()).contains("--config FILE", "--port N", "--host ADDR", "--management-port N",
                "--management-host ADDR", "--backend NAME", "--data-dir DIR", "STELLANE_RUNTIME_");
        assertThat(o.err()).isEmpty();
    }

    @Test
    void theDataDirIsCreatedPrivateAndHoldsTheDatabase() throws Exception {
        Path f = write("[runtime]\nworker_threads = 1\n[runtime.recovery]\nenabled = true\n");
        Path dir = tmp.resolve("nested").resolve("data");
        AppConfig c = AppConfig.resolve(args("--config", f.toString(), "--backend", "nio", "--host", "127.0.0.1",
                "--port", "0", "--management-port", "0", "--data-dir", dir.toString()), Map.of());
        try (UsersApp app = UsersApp.start(c)) {
            assertThat(dir).isDirectory();
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir))).isEqualTo("rwx------");
            assertThat(dir.resolve("users.mv.db")).isRegularFile();
            assertThat(app.port()).isPositive();
            assertThat(app.banner()).contains("http://127.0.0.1:" + app.port() + "/", "backend nio", "1 workers",
                    "recovery mmap at " + dir.resolve("journal"), "0 request(s) recovered");
        }
    }
}
