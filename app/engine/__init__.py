"""The only package that imports SpiffWorkflow: a small typed interface to run BPMN and DMN."""

from app.engine.inspect import (
    MessageNotAwaited,
    TaskInfo,
    WaitingEvent,
    WorkflowView,
    inspect_state,
    send_message,
    task_states,
)
from app.engine.runtime import (
    EngineError,
    ReadyTask,
    Step,
    TaskNotReady,
    Timer,
    catch_message,
    complete_task,
    failed_tasks,
    fire_due_timers,
    peek,
    retry,
    start,
)
from app.engine.specs import BundleInfo, CompiledSpec, DecisionInfo, ProcessInfo, compile_spec, describe_bundle

__all__ = [
    "BundleInfo",
    "CompiledSpec",
    "DecisionInfo",
    "EngineError",
    "MessageNotAwaited",
    "ProcessInfo",
    "ReadyTask",
    "Step",
    "TaskInfo",
    "TaskNotReady",
    "Timer",
    "WaitingEvent",
    "WorkflowView",
    "catch_message",
    "complete_task",
    "compile_spec",
    "describe_bundle",
    "failed_tasks",
    "fire_due_timers",
    "inspect_state",
    "peek",
    "retry",
    "send_message",
    "start",
    "task_states",
]
