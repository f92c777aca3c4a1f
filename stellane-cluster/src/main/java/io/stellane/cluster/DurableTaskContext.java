package io.stellane.cluster;

/**
 * The durable task an attempt runs, as its {@link DurableTaskHandler} sees it. Immutable.
 */
public interface DurableTaskContext {

    /** The task's id: the one given at submission, or a random UUID. The key of its effects. */
    String id();

    /** The name its handler is registered under. */
    String name();

    String queue();

    /** The payload as submitted (a copy). */
    byte[] payload();

    /** The payload as UTF-8 text. */
    String payloadString();

    /** This attempt, from 1; attempts cut short by a crash count. */
    int attempt();

    /** After this many attempts the task is quarantined. */
    int maxAttempts();

    /** Why the previous attempt failed, or null on the first. */
    String lastError();
}
