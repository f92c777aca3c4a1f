package io.stellane.cluster;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.stellane.config.RuntimeConfig;
import io.stellane.config.Secret;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.task.Task;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;

/**
 * One node of {@link DurableTasksProcessTest}, in a JVM of its own: joins the cluster, runs the task
 * {@code effect}, prints {@code ready <node>}, and closes when a line (or the end) arrives on stdin.
 *
 * <p>{@code effect} records each execution in {@code executions} (its own transaction), then writes
 * its effect in {@code effects} with the task id as primary key ({@code ON CONFLICT DO NOTHING}, a
 * transaction of its own): the pattern that makes an at-least-once task's effect happen once.
 *
 * <p>Arguments: url user password node lease-ms concurrency (an empty user or password: none).
 */
public final class DurableTaskNode {
    private DurableTaskNode() {
    }

    public static void main(String[] args) throws Exception {
        String url = args[0];
        String user = args[1].isEmpty() ? null : args[1];
        String password = args[2].isEmpty() ? null : args[2];
        String nodeId = args[3];
        Duration lease = Duration.ofMillis(Long.parseLong(args[4]));
        int concurrency = Integer.parseInt(args[5]);

        StellaneRuntime runtime = StellaneRuntime.create(nodeId);
        runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(1).build());
        HikariConfig hc = new HikariConfig();
        hc.setJdbcUrl(url);
        hc.setUsername(user);
        hc.setPassword(password);
        hc.setMaximumPoolSize(concurrency);
        hc.setConnectionTimeout(60_000); // a busy test machine: wait rather than fail the attempt
        HikariDataSource effects = new HikariDataSource(hc);
        ClusterNode node = ClusterNode.join(new RecoveryStoreConfig.Database(url, user,
                password == null ? null : Secret.of(password), nodeId, lease));
        DurableTasks tasks = DurableTasks.open(node, runtime, DurableTasksConfig.defaults()
                .withQueue(DurableTasksConfig.DEFAULT_QUEUE, concurrency).withPollInterval(Duration.ofMillis(200))
                .withBackoff(Duration.ofMillis(50), Duration.ofSeconds(1)));
        tasks.register("effect", t -> Task.blocking(() -> {
            try (Connection c = effects.getConnection()) {
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO executions VALUES (?, ?, ?)")) {
                    ps.setString(1, t.id());
                    ps.setString(2, nodeId);
                    ps.setInt(3, t.attempt());
                    ps.executeUpdate();
                }
                c.setAutoCommit(false);
                try (PreparedStatement ps = c.prepareStatement(
                        "INSERT INTO effects VALUES (?, ?) ON CONFLICT (task_id) DO NOTHING")) {
                    ps.setString(1, t.id());
                    ps.setString(2, nodeId);
                    ps.executeUpdate();
                }
                c.commit();
            }
            Thread.sleep(2); // between the effect and the task's outcome: where a kill makes a second execution
            return null;
        }));
        System.out.println("ready " + nodeId);

        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            in.readLine();
        }
        tasks.close();
        node.close();
        runtime.stop();
        effects.close();
        System.out.println("stopped " + nodeId);
    }
}
