package io.stellane.cluster;

/**
 * What one node's {@link DurableTasks} did since it was opened, and what is there now.
 *
 * @param submitted      tasks this node added (a submission whose id existed adds nothing)
 * @param claimed        attempts this node took
 * @param completed      tasks whose handler succeeded here
 * @param failedAttempts attempts that failed here (the last one of a quarantined task included)
 * @param quarantined    tasks this node set aside after their last attempt (also those of a dead node)
 * @param running        attempts running on this node now
 * @param ready          tasks ready to run in the whole cluster, in every queue, sampled every half
 *                       lease; -1 before the first sample
 */
public record DurableTaskStats(long submitted, long claimed, long completed, long failedAttempts, long quarantined,
                               int running, long ready) {
}
