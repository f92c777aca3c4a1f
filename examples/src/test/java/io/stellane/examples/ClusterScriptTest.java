package io.stellane.examples;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code scripts/cluster.sh} for real: PostgreSQL, two nodes of the example service and nginx, all on
 * 127.0.0.1. Requests through the balancer keep succeeding while a node is killed; a restarted node
 * comes back on its port; {@code stop} leaves no process and no state directory. The nodes run the
 * test class path (through {@code STELLANE_CLUSTER_SERVE}), so nothing is built; PostgreSQL and nginx
 * are installed by the scripts when missing (as root), which {@code ./stellane test} does before Maven.
 */
class ClusterScriptTest {
    private static final Path SCRIPT = Path.of(System.getProperty("basedir", "."), "..", "scripts", "cluster.sh")
            .toAbsolutePath().normalize();
    private static final Pattern EXPORT = Pattern.compile("^export (\\w+)=(.*)$", Pattern.MULTILINE);

    @TempDir
    Path tmp;
    /** Under the system's temporary directory, not {@link #tmp}: PostgreSQL, running as postgres, must reach it. */
    private final Path clusterDir = Path.of(System.getProperty("java.io.tmpdir"), "stellane-cluster-test-" + UUID.randomUUID());

    record Result(int code, String out, String err) {
    }

    @AfterEach
    void stopWhatIsLeft() throws Exception {
        if (Files.exists(clusterDir)) {
            script("stop");
        }
    }

    private Result script(String... args) throws Exception {
        return script(Map.of(), args);
    }

    /** Runs the script with this test's cluster directory, the test class path for the nodes, and {@code env}. */
    private Result script(Map<String, String> env, String... args) throws Exception {
        Path serve = tmp.resolve("serve.sh");
        if (!Files.exists(serve)) {
            Files.writeString(serve, "#!/bin/sh\nexec '%s' --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \\\n"
                    .formatted(Path.of(System.getProperty("java.home"), "bin", "java"))
                    + "  -Xmx256m -XX:TieredStopAtLevel=1 -Djava.io.tmpdir='%s' -cp '%s' %s \"$@\"\n".formatted(
                    Files.createDirectories(tmp.resolve("node-tmp")), System.getProperty("java.class.path"),
                    UsersService.class.getName()));
            Files.setPosixFilePermissions(serve, PosixFilePermissions.fromString("rwx------"));
        }
        List<String> cmd = new ArrayList<>(List.of("bash", SCRIPT.toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("STELLANE_CLUSTER_DIR", clusterDir.toString());
        pb.environment().put("STELLANE_CLUSTER_SERVE", serve.toString());
        pb.environment().put("STELLANE_CLUSTER_START_TIMEOUT", "60");
        pb.environment().put("STELLANE_CLUSTER_STOP_TIMEOUT", "15");
        pb.environment().putAll(env);
        Path out = tmp.resolve("out.txt");
        Path err = tmp.resolve("err.txt");
        Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(80, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("cluster.sh " + String.join(" ", args) + " did not finish: " + Files.readString(err));
        }
        return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    private Map<String, String> env() throws Exception {
        Result r = script("env");
        assertThat(r.code()).as(r.err()).isZero();
        Map<String, String> env = new HashMap<>();
        Matcher m = EXPORT.matcher(r.out());
        while (m.find()) {
            env.put(m.group(1), m.group(2));
        }
        return env;
    }

    private static int port(String url) {
        return URI.create(url).getPort();
    }

    /** Runs and is no zombie: an ended process its parent has not reaped yet is gone for this purpose. */
    private static boolean running(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            return stat.charAt(stat.lastIndexOf(')') + 2) != 'Z';
        } catch (IOException e) {
            return false;
        }
    }

    /** PID and everything below it now (nginx's workers, PostgreSQL's backends). */
    private static List<Long> withDescendants(String pid) {
        List<Long> all = new ArrayList<>(List.of(Long.parseLong(pid)));
        ProcessHandle.of(Long.parseLong(pid)).ifPresent(h -> h.descendants().forEach(d -> all.add(d.pid())));
        return all;
    }

    private static HttpResponse<String> createUser(int port, String name, String key) throws Exception {
        return UsersServiceTest.call(port, "POST", "/users", "{\"name\":\"" + name + "\",\"email\":\"" + name
                + "@example.com\"}", "Content-Type", "application/json", "Idempotency-Key", key);
    }

    @Test
    @Timeout(value = 90, unit = TimeUnit.SECONDS)
    void twoNodesServeThroughTheBalancerWhileOneIsKilledAndStopLeavesNothing() throws Exception {
        Result start = script("start", "2");
        assertThat(start.code()).as(start.err()).isZero();
        assertThat(start.out()).contains("balancer", "node-1", "node-2", "postgres").doesNotContain("down");
        Map<String, String> env = env();
        int balancer = port(env.get("STELLANE_CLUSTER_URL"));
        assertThat(env.get("STELLANE_CLUSTER_PG_URL")).startsWith("jdbc:postgresql://127.0.0.1:");

        HttpResponse<String> created = createUser(balancer, "ada", "key-ada");
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        long id = UsersServiceTest.json(created).path("id").asLong();
        assertThat(UsersServiceTest.json(createUser(balancer, "ada", "key-ada")).path("id").asLong())
                .as("the same Idempotency-Key, whichever node answers: the same user").isEqualTo(id);
        for (String node : List.of("STELLANE_CLUSTER_NODE_1_URL", "STELLANE_CLUSTER_NODE_2_URL")) {
            assertThat(UsersServiceTest.call(port(env.get(node)), "GET", "/users/" + id, null).statusCode())
                    .as("%s sees the user: one database", node).isEqualTo(200);
        }
        for (int i = 0; i < 4; i++) { // nginx alternates: both nodes answer
            JsonNode page = UsersServiceTest.json(UsersServiceTest.call(balancer, "GET", "/users", null));
            assertThat(page.path("total").asInt()).isEqualTo(1);
        }

        long killed = Long.parseLong(env.get("STELLANE_CLUSTER_NODE_1_PID"));
        Result kill = script("kill", "node-1");
        assertThat(kill.code()).as(kill.err()).isZero();
        assertThat(running(killed)).isFalse();
        Result status = script("status");
        assertThat(status.code()).as("not everything runs").isEqualTo(1);
        assertThat(status.out()).containsPattern("node-1 +down").containsPattern("node-2 +running");
        for (int i = 0; i < 6; i++) {
            HttpResponse<String> r = createUser(balancer, "user" + i, "key-" + i);
            assertThat(r.statusCode()).as("POST %d with node-1 dead: %s", i, r.body()).isEqualTo(201);
            HttpResponse<String> list = UsersServiceTest.call(balancer, "GET", "/users", null);
            assertThat(list.statusCode()).as("GET %d with node-1 dead", i).isEqualTo(200);
            assertThat(UsersServiceTest.json(list).path("total").asInt()).isEqualTo(i + 2);
        }

        Result restart = script("restart", "1");
        assertThat(restart.code()).as(restart.err()).isZero();
        Map<String, String> after = env();
        assertThat(after.get("STELLANE_CLUSTER_NODE_1_URL")).as("the same port").isEqualTo(env.get("STELLANE_CLUSTER_NODE_1_URL"));
        assertThat(after.get("STELLANE_CLUSTER_NODE_1_PID")).isNotEqualTo(env.get("STELLANE_CLUSTER_NODE_1_PID"));
        assertThat(UsersServiceTest.call(port(after.get("STELLANE_CLUSTER_NODE_1_URL")), "GET", "/users/" + id, null)
                .statusCode()).isEqualTo(200);
        assertThat(script("status").code()).as("everything runs again").isZero();

        List<Long> pids = new ArrayList<>();
        for (String var : List.of("STELLANE_CLUSTER_NGINX_PID", "STELLANE_CLUSTER_NODE_1_PID",
                "STELLANE_CLUSTER_NODE_2_PID", "STELLANE_CLUSTER_PG_PID")) {
            pids.addAll(withDescendants(after.get(var)));
        }
        assertThat(pids).hasSizeGreaterThan(5); // nginx's worker and PostgreSQL's own processes among them
        Result stop = script("stop");
        assertThat(stop.code()).as(stop.err()).isZero();
        assertThat(clusterDir).doesNotExist();
        assertThat(pids.stream().filter(ClusterScriptTest::running).toList()).as("processes left").isEmpty();
    }

    @Test
    void badArgumentsAndAMissingClusterAreRefusedWithOneLineSayingWhyAndStartNothing() throws Exception {
        Result n = script("start", "zero");
        assertThat(n.code()).isEqualTo(1);
        assertThat(n.err()).isEqualTo("cluster.sh: start N: N must be a number from 1 to 64, not 'zero'\n");
        Result recovery = script(Map.of("STELLANE_CLUSTER_RECOVERY", "rocksdb"), "start", "1");
        assertThat(recovery.code()).isEqualTo(1);
        assertThat(recovery.err()).isEqualTo("cluster.sh: STELLANE_CLUSTER_RECOVERY=rocksdb: allowed are mmap (each node"
                + " its own journal) and postgres (one journal for the cluster)\n");
        Result status = script("status");
        assertThat(status.code()).isEqualTo(1);
        assertThat(status.err()).isEqualTo("cluster.sh: no cluster in " + clusterDir + ": run 'scripts/cluster.sh start'\n");
        assertThat(script("kill", "node-1").err()).startsWith("cluster.sh: no cluster in ");
        Result usage = script("frobnicate");
        assertThat(usage.code()).isEqualTo(2);
        assertThat(usage.err()).startsWith("usage: scripts/cluster.sh start [N] | stop | status | env | kill NODE | restart NODE");
        Result stop = script("stop");
        assertThat(stop.code()).as("stopping nothing is fine").isZero();
        assertThat(clusterDir).doesNotExist();
    }
}
