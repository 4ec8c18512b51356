"""potatogpt's own functions under the exercises' names: the grader must pass every one."""
