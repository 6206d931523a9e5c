"""Paper section 2.1, the virtual dubber: the reference frame, the backends that drive it with the dubber's
expressions (builtin mesh warp, LivePortrait), mesh smoothing with rigid alignment onto the actor's head
(the composite), and the geometry QA of the aligned track."""
