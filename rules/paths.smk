# Paths of the workflow's files, one name each, spelled once in vdub.core.paths (which `vdub status` reads too).
# Templates in {shot} (a shot's files), {actor} (an actor's model), {role} (a face mesh) or {reel} (a conform).


from vdub.core.paths import *
