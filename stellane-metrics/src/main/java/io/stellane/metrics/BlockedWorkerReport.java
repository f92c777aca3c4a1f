package io.stellane.metrics;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * A worker that did not run a probe within the detector's threshold: something is holding its
 * thread (a busy loop, a blocking call, a lock).
 *
 * @param workerId    the worker's index
 * @param threadName  its thread's name, or {@code "unknown"} when the thread could not be found
 * @param blockedFor  how long the probe has been waiting
 * @param inTask      whether the stack shows a scheduled task running ({@code Task.run}) rather than
 *                    I/O or loop code
 * @param taskName    the running task's name, when the worker was running a task
 * @param stack       the worker thread's stack when the block was seen, innermost frame first
 */
public record BlockedWorkerReport(int workerId, String threadName, Duration blockedFor, boolean inTask,
                                  Optional<String> taskName, List<StackTraceElement> stack) {

    private static final List<String> RUNTIME_PACKAGES = List.of(
            "java.", "javax.", "jdk.", "sun.", "io.netty.", "io.stellane.task.", "io.stellane.runtime.",
            "io.stellane.backend.", "io.stellane.scheduler.");

    /** The innermost frame outside the JDK, Netty and the Stellane runtime: most likely the culprit. */
    public Optional<StackTraceElement> suspectFrame() {
        return stack.stream()
                .filter(f -> RUNTIME_PACKAGES.stream().noneMatch(p -> f.getClassName().startsWith(p)))
                .findFirst();
    }

    /** The text logged for this report: a headline, then the stack as in a Java stack trace. */
    public String describe() {
        StringBuilder sb = new StringBuilder()
                .append("worker ").append(workerId).append(" (").append(threadName).append(") has been blocked for ")
                .append(blockedFor.toMillis()).append(" ms");
        taskName.ifPresent(n -> sb.append(" running task '").append(n).append('\''));
        sb.append(inTask ? ", inside a task" : ", outside any task (I/O or loop code)");
        suspectFrame().ifPresent(f -> sb.append("; suspect: ").append(f));
        sb.append(". Blocking calls belong in Task.blocking(...); long computations should be split up.");
        for (StackTraceElement f : stack) {
            sb.append("\n\tat ").append(f);
        }
        return sb.toString();
    }
}
