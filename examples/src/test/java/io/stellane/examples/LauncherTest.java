package io.stellane.examples;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The {@code ./stellane} script's build, install and test commands, run on a copy of it in a scratch
 * checkout whose {@code mvn} is a stand-in that prints what Maven would: what the launcher shows, passes
 * and reports, without a real build.
 */
class LauncherTest {
    private static final Path LAUNCHER = Path.of(System.getProperty("basedir", "."), "..", "stellane");
    private static final String VERSION = "9.9.9-TEST";

    @TempDir
    Path tmp;

    record Result(int code, String out, String err) {
    }

    /** A checkout with the launcher, a pom naming three modules, and an {@code mvn} running {@code body}. */
    private Path checkout(String mvnBody) throws IOException {
        Path root = Files.createDirectories(tmp.resolve("checkout"));
        Files.copy(LAUNCHER, root.resolve("stellane"), StandardCopyOption.REPLACE_EXISTING);
        Files.writeString(root.resolve("pom.xml"), """
                <project>
                  <groupId>io.stellane</groupId>
                  <artifactId>stellane-parent</artifactId>
                  <version>%s</version>
                  <modules>
                    <module>stellane-bom</module>
                    <module>stellane-core</module>
                    <module>stellane-server</module>
                    <module>stellane-benchmarks</module>
                  </modules>
                </project>
                """.formatted(VERSION));
        // the test command sources it for its PostgreSQL; the stand-in needs none
        Files.createDirectories(root.resolve("scripts"));
        Files.writeString(root.resolve("scripts/test-env.sh"), "# nothing to start\n");
        executable(root.resolve("bin/mvn"), "#!/usr/bin/env bash\nprintf '%s\\n' \"$*\" >> \"$(dirname \"$0\")/args\"\n"
                + mvnBody);
        return root;
    }

    private static void executable(Path file, String text) throws IOException {
        Files.createDirectories(file.getParent());
        Files.writeString(file, text);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    private static Result launch(Path root, String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of("bash", root.resolve("stellane").toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(root.toFile());
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        pb.environment().put("PATH", root.resolve("bin") + ":" + System.getenv("PATH"));
        pb.environment().put("HOME", root.toString());
        Path out = root.resolve("stdout.txt");
        Path err = root.resolve("stderr.txt");
        Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("the launcher did not finish: " + Files.readString(err));
        }
        return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    private static String mavenArgs(Path root) throws IOException {
        return Files.readString(root.resolve("bin/args"), StandardCharsets.UTF_8);
    }

    /** What {@code mvn -B} prints when it starts a module, for the stand-in to echo. */
    private static String moduleLines(String... artifacts) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < artifacts.length; i++) {
            b.append("echo '[INFO] ---------------< io.stellane:").append(artifacts[i]).append(" >---------------'\n")
                    .append("echo '[INFO] Building Stellane ").append(artifacts[i]).append(' ').append(VERSION)
                    .append(" [").append(i + 1).append('/').append(artifacts.length).append("]'\n");
        }
        return b.toString();
    }

    @Test
    void theFirstBuildSaysSoAndShowsOneLinePerModuleAndTheDownloads() throws Exception {
        Path root = checkout("""
                echo '[INFO] Scanning for projects...'
                echo '[INFO] Downloaded from central: https://repo.maven.apache.org/a.pom'
                echo '[INFO] Downloaded from central: https://repo.maven.apache.org/b.jar'
                """ + moduleLines("stellane-core", "stellane-server") + """
                echo '[INFO] Compiling 40 source files'
                echo '[INFO] BUILD SUCCESS'
                """);
        Result r = launch(root, "build");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.err().lines().toList()).containsExactly(
                "stellane: building Stellane (the first build downloads dependencies, ~1-2 min) with JDK "
                        + Runtime.version().feature() + " at " + System.getProperty("java.home") + "...",
                "..",
                "stellane:   [1/2] stellane-core",
                "stellane:   [2/2] stellane-server");
        assertThat(mavenArgs(root)).contains("package -DskipTests");
        assertThat(root.resolve("target/.built")).exists();
    }

    @Test
    void aFailedBuildShowsMavensWholeLog() throws Exception {
        Path root = checkout(moduleLines("stellane-core") + """
                echo '[ERROR] COMPILATION ERROR: Task.java:[12,5] cannot find symbol'
                exit 1
                """);
        Result r = launch(root, "build");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("stellane:   [1/1] stellane-core",
                "[ERROR] COMPILATION ERROR: Task.java:[12,5] cannot find symbol", "stellane: build FAILED");
        assertThat(root.resolve("target/.built")).doesNotExist();
    }

    @Test
    void installPublishesWithoutTestsIntoTheRepositoryGivenAndPrintsTheCoordinates() throws Exception {
        Path repo = tmp.resolve("m2");
        Path root = checkout(moduleLines("stellane-bom", "stellane-core", "stellane-server") + """
                for m in stellane-core stellane-server; do
                    mkdir -p "%1$s/io/stellane/$m/%2$s" && touch "%1$s/io/stellane/$m/%2$s/$m-%2$s.jar"
                done
                """.formatted(repo, VERSION));
        Result r = launch(root, "install", "-Dmaven.repo.local=" + repo);
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(mavenArgs(root)).contains("install -Ppublish -DskipTests -pl !examples,!stellane-benchmarks "
                + "-Dmaven.repo.local=" + repo);
        assertThat(r.err()).contains("installing Stellane " + VERSION + " into " + repo, "[3/3] stellane-server");
        assertThat(r.out()).contains("stellane: installed into " + repo, "<artifactId>stellane-bom</artifactId>",
                "<version>" + VERSION + "</version>", "<scope>import</scope>");
        assertThat(r.out().lines().filter(l -> l.startsWith("  io.stellane:")).toList())
                .containsExactly("  io.stellane:stellane-core", "  io.stellane:stellane-server");
    }

    @Test
    void aFailedTestRunNamesWhatEachFailedClassPrinted() throws Exception {
        Path root = checkout("""
                reports=stellane-core/target/surefire-reports
                mkdir -p "$reports"
                echo 'Tests run: 1, Failures: 1 <<< FAILURE! -- in io.stellane.FailsTest' > "$reports/io.stellane.FailsTest.txt"
                echo 'a log line' > "$reports/io.stellane.FailsTest-output.txt"
                echo 'Tests run: 3, Failures: 0' > "$reports/io.stellane.PassesTest.txt"
                echo 'another' > "$reports/io.stellane.PassesTest-output.txt"
                echo '[ERROR] There are test failures.'
                exit 1
                """);
        Result r = launch(root, "test", "-pl", "stellane-core");
        assertThat(r.code()).isEqualTo(1);
        assertThat(mavenArgs(root)).contains("verify -pl stellane-core");
        assertThat(r.err().lines().filter(l -> l.startsWith("stellane:")).toList()).containsExactly(
                "stellane: io.stellane.FailsTest failed; what it printed: "
                        + "stellane-core/target/surefire-reports/io.stellane.FailsTest-output.txt");
    }

    @Test
    void theWholeSuiteEndsWithTheConsumerCheckAndAPartOfItDoesNot() throws Exception {
        Path root = checkout("exit 0\n");
        Path ran = root.resolve("consumer-check-ran");
        executable(root.resolve("scripts/consumer-check.sh"), "#!/usr/bin/env bash\ntouch '" + ran + "'\n");

        assertThat(launch(root, "test", "-pl", "stellane-core").code()).isZero();
        assertThat(ran).as("a part of the suite").doesNotExist();

        assertThat(launch(root, "test").code()).isZero();
        assertThat(ran).as("the whole suite").exists();
    }

    @Test
    void aFailingConsumerCheckFailsTheTestCommand() throws Exception {
        Path root = checkout("exit 0\n");
        executable(root.resolve("scripts/consumer-check.sh"), "#!/usr/bin/env bash\nexit 3\n");
        assertThat(launch(root, "test").code()).isEqualTo(3);
    }
}
