package io.stellane.examples;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code ./stellane serve} under the common umask 022 on a data directory that already exists with mode
 * 0755: it warns once, and every directory under it ends up 0700 and every file 0600, the database's
 * and the journal's (of each recovery store) alike, while serving and after a graceful stop.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PrivateDataDirProcessTest {
    @TempDir
    Path tmp;
    private ChildApp child;

    @AfterEach
    void killChild() throws Exception {
        if (child != null) {
            child.kill();
        }
    }

    @ParameterizedTest(name = "journal {0}")
    @ValueSource(strings = {"mmap", "rocksdb"})
    void everythingUnderAnExistingLooseDataDirIsPrivate(String store) throws Exception {
        Path config = tmp.resolve("stellane.toml");
        Files.writeString(config, """
                [runtime]
                worker_threads = 2
                [runtime.recovery]
                enabled = true
                backend = "%s"
                [server]
                host = "127.0.0.1"
                """.formatted(store));
        Path dataDir = Files.createDirectory(tmp.resolve("data"));
        Files.setPosixFilePermissions(dataDir, PosixFilePermissions.fromString("rwxr-xr-x"));
        child = ChildApp.withUmask("022", tmp.resolve("child-tmp"), "--config", config.toString(), "--port", "0",
                "--management-port", "0", "--backend", "nio", "--data-dir", dataDir.toString());
        int port = child.port();
        int managementPort = child.managementPort();

        HttpResponse<String> created = UsersServiceTest.call(port, "POST", "/users",
                "{\"name\":\"Private\",\"email\":\"private@example.com\"}");
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        assertThat(UsersServiceTest.call(port, "GET", "/users/" + UsersServiceTest.json(created).path("id").asLong(),
                null).statusCode()).isEqualTo(200);
        assertThat(UsersServiceTest.call(managementPort, "GET", "/health", null).statusCode()).isEqualTo(200);
        assertThat(UsersServiceTest.call(managementPort, "GET", "/metrics", null).body())
                .containsPattern("(?m)^stellane_recovery_journaled_total 1(\\.0)?$");
        assertThat(dataDir.resolve("users.mv.db")).isRegularFile();
        assertThat(dataDir.resolve("journal")).isDirectory();
        assertEverythingPrivate(dataDir);

        child.process.toHandle().destroy(); // SIGTERM: the graceful stop closes the journal and the database
        child.awaitLine(Pattern.compile("\\bstopped$"), 30);
        assertThat(child.process.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertEverythingPrivate(dataDir);

        List<String> warnings = child.output.stream()
                .filter(l -> l.contains("data directory " + dataDir) && l.contains("0755")).toList();
        assertThat(warnings).as("output:\n%s", String.join("\n", child.output)).hasSize(1);
        assertThat(warnings.getFirst()).contains("WARN", "narrowing it to 0700");
    }

    /** Walks the tree; an entry the running service deletes meanwhile (a compacted file) is skipped. */
    private static void assertEverythingPrivate(Path dataDir) throws Exception {
        List<String> wrong = new ArrayList<>();
        List<Path> files = new ArrayList<>();
        Files.walkFileTree(dataDir, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                check(dir, "rwx------");
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                files.add(file);
                check(file, "rw-------");
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
                if (e instanceof NoSuchFileException) {
                    return FileVisitResult.CONTINUE;
                }
                throw e;
            }

            private void check(Path p, String expected) throws IOException {
                try {
                    String mode = PosixFilePermissions.toString(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS));
                    if (!mode.equals(expected)) {
                        wrong.add(p + " " + mode);
                    }
                } catch (NoSuchFileException gone) {
                    // deleted by the service while we walked
                }
            }
        });
        assertThat(wrong).as("entries under %s that are not private (files seen: %s)", dataDir, files).isEmpty();
        assertThat(files).as("files under %s", dataDir).hasSizeGreaterThanOrEqualTo(2);
    }
}
