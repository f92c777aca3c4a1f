package io.stellane.cluster;

import io.stellane.task.Task;

/**
 * What runs a durable task of one name ({@link DurableTasks#register}). Called on a worker of the
 * runtime the tasks were opened on: it must not block; blocking work goes in {@link Task#blocking}.
 * The task succeeds when the returned task completes, and fails (to be retried, or quarantined
 * after its last attempt) when it fails, when this method throws, or when it outlives
 * {@link DurableTasksConfig#taskTimeout()}.
 *
 * <p>A task runs at least once: after a crash, or a node that lost its lease, it runs again on
 * another node. Make its effect idempotent by its {@link DurableTaskContext#id()}: write it with the
 * id as a unique key ({@code INSERT ... ON CONFLICT DO NOTHING}) in one transaction of its own.
 */
@FunctionalInterface
public interface DurableTaskHandler {

    Task<?> handle(DurableTaskContext task) throws Exception;
}
