"""Where the reflectors' changes go: closures handed to `submit`, which runs them on the
state's own thread (the server's event loop), in the order the API sent the changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clusterdns.plugins.kubernetes.objects import EndpointSlice, KubeObject
from clusterdns.plugins.kubernetes.state import ClusterState, Key

Submit = Callable[[Callable[[], None]], None]
SliceHook = Callable[[EndpointSlice], None]


@dataclass(frozen=True)
class Sink:
    """Where the reflectors' changes go."""

    state: ClusterState  # only touched by closures handed to `submit`
    submit: Submit
    on_slice_change: SliceHook | None
    on_listed: Callable[[str], None]  # a kind completed a full LIST (reflector thread)

    def replace(self, record: type[KubeObject], objects: list[KubeObject]) -> None:
        """A full LIST of one kind: the state becomes exactly these objects."""
        state, hook = self.state, self.on_slice_change

        def replace() -> None:
            changed: list[EndpointSlice] = []
            if hook is not None and record is EndpointSlice:
                slices = (s for s in objects if isinstance(s, EndpointSlice))
                changed = [s for s in slices if state.slices.get(s.key) != s]
            state.replace(record, objects)
            if hook is not None:
                for slice_ in changed:
                    hook(slice_)

        self.submit(replace)

    def upsert(self, obj: KubeObject) -> None:
        state, hook = self.state, self.on_slice_change

        def upsert() -> None:
            changed = isinstance(obj, EndpointSlice) and state.slices.get(obj.key) != obj
            state.upsert(obj)
            if changed and hook is not None and isinstance(obj, EndpointSlice):
                hook(obj)

        self.submit(upsert)

    def delete(self, record: type[KubeObject], key: Key) -> None:
        state = self.state
        self.submit(lambda: state.delete(record, key))
