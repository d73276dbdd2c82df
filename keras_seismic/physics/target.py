"""Where the kernels run: Devito's platform, language and compiler for the operators.

Each setting left as None falls back to Devito's configuration, which reads the
``DEVITO_PLATFORM``, ``DEVITO_LANGUAGE`` and ``DEVITO_ARCH`` environment variables (by
default: the CPU Devito finds, OpenMP, gcc). Setting them on a propagator instead lets one
process hold CPU and GPU propagators side by side, and the choice travels with the
propagator to Dask workers.
"""
from devito import configuration
from devito.arch import Device, platform_registry

#: Languages whose code runs only on a device (a GPU).
DEVICE_LANGUAGES = ("openacc", "cuda", "hip", "sycl")


def accepted(setting):
    """The names Devito accepts for ``setting`` ("platform", "language" or "compiler")."""
    return sorted(str(name) for name in configuration._accepted[setting] if name is not None)


class Target:
    """Devito's ``platform``, ``language`` and ``compiler`` for a propagator's operators.

    Args:
        platform: Devito's name for the hardware, e.g. ``"nvidiaX"`` (an NVIDIA GPU),
            ``"amdgpuX"`` (an AMD GPU) or a CPU such as ``"skx"``; None: Devito's setting.
        language: how the generated code is parallelised: ``"openmp"`` (CPU threads, or
            OpenMP offloading on a GPU platform), ``"openacc"`` (NVIDIA GPUs, with the
            ``"nvc"`` compiler), ``"cuda"``, ``"hip"``, ``"C"``; None: Devito's setting.
        compiler: Devito's name for the C compiler, e.g. ``"gcc"``, ``"nvc"``,
            ``"amdclang"``; None: Devito's setting.

    Raises:
        ValueError: a name Devito does not know (the message lists those it does), or a
            GPU-only language on a CPU platform.
    """

    def __init__(self, platform=None, language=None, compiler=None):
        for setting, value in (("platform", platform), ("language", language),
                               ("compiler", compiler)):
            if value is not None and (not isinstance(value, str)
                                      or value not in configuration._accepted[setting]):
                raise ValueError(f"{setting} must be None (Devito's setting) or one of "
                                 f"{accepted(setting)}; got {value!r}")
        self.platform, self.language, self.compiler = platform, language, compiler
        if self.language in DEVICE_LANGUAGES and not self.on_device:
            raise ValueError(
                f"language {language!r} runs only on a GPU, but the platform is "
                f"{str(self.platform or configuration['platform'])!r}; set platform too, "
                f"e.g. platform='nvidiaX' for NVIDIA or 'amdgpuX' for AMD GPUs")

    @property
    def on_device(self):
        """Whether the kernels run on a device (GPU) rather than the host's CPU."""
        platform = platform_registry.get(self.platform) if self.platform \
            else configuration["platform"]
        return isinstance(platform, Device)

    @property
    def operator_options(self):
        """The settings given, as keyword arguments of ``devito.Operator``."""
        return {key: value for key, value in self.key if value is not None}

    @property
    def hint(self):
        """What a failed build on this target most likely lacks, or ''."""
        if self.language == "openacc" and self.compiler != "nvc":
            return " (OpenACC kernels need the NVIDIA HPC SDK: compiler='nvc', on the PATH)"
        return ""

    @property
    def key(self):
        """A hashable form, for the operator cache."""
        return (("platform", self.platform), ("language", self.language),
                ("compiler", self.compiler))

    def __repr__(self):
        given = ", ".join(f"{k}={v!r}" for k, v in self.operator_options.items())
        return f"Target({given or 'Devito defaults'})"
