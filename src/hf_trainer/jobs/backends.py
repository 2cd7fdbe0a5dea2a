"""Which backend runs a job: the Hub when the caller has a token, else this machine, unless asked for one by name."""

from hf_trainer.errors import UserError
from hf_trainer.jobs.base import BackendName, JobBackend

BACKENDS: tuple[BackendName, ...] = ("local", "hub")


def default_backend_name() -> BackendName:
    """"hub" when a Hugging Face token is found (HF_TOKEN or the one `hf auth login` stored), else "local"."""
    from hf_trainer.tokens import caller_token

    return "hub" if caller_token() else "local"


def get_backend(name: BackendName | None = None) -> JobBackend:
    """The backend called `name`; None picks `default_backend_name()`."""
    if name is None:
        name = default_backend_name()
    if name == "local":
        from hf_trainer.jobs.local import LocalBackend

        return LocalBackend()
    if name == "hub":
        try:
            # Imported here: the Hub backend pulls huggingface_hub's HTTP stack, which local-only use never needs.
            from hf_trainer.jobs.hub import HubBackend
        except ImportError as exc:
            if exc.name != "hf_trainer.jobs.hub":
                raise
            raise UserError("The Hub job backend is not available in this installation. Use --backend local.") \
                from None
        return HubBackend.from_env()
    raise UserError(f"Unknown job backend {name!r}. Use one of: {', '.join(BACKENDS)}.")
