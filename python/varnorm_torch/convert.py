"""convert(model): swaps the original normalization modules of a model for varnorm's, keeping parameters."""
import warnings
from typing import Dict, Optional, Type

from torch import nn

from .modules import ConditionalVarianceNorm2d, GroupNorm, InstanceNorm2d, NotConvertible, VarianceNorm2d

# Class name of an original module -> the extension's class, whose from_original(module) builds the
# replacement around the module's own Parameters (or raises NotConvertible). GroupNorm and InstanceNorm2d
# take only torch.nn.GroupNorm / torch.nn.InstanceNorm2d themselves (not subclasses or other classes of that
# name), InstanceNorm2d only with track_running_stats=False.
REPLACEMENTS: Dict[str, Type[nn.Module]] = {
    "VarianceNorm2d": VarianceNorm2d,
    "ConditionalVarianceNorm2d": ConditionalVarianceNorm2d,
    "GroupNorm": GroupNorm,
    "InstanceNorm2d": InstanceNorm2d,
}


def convert(model: nn.Module) -> nn.Module:
    """Replaces, in place, every module whose class is named as a key of REPLACEMENTS (ESPnet's, score_sde's,
    or any class of that name with the same parameters; torch.nn.GroupNorm; torch.nn.InstanceNorm2d without
    running statistics) by varnorm's module, sharing its Parameter objects: state_dict, optimizer state and
    parameter identity are unchanged. Returns the model (the replacement, if the model itself is such a module).
    A module of that name with other parameters (or a subclass of PyTorch's GroupNorm / InstanceNorm2d, or an
    InstanceNorm2d with track_running_stats=True) is left as it is, with a warning. The VarianceNorm2d originals'
    forward is assumed to be the ESPnet / score_sde formula: convert cannot check it.
    """
    replacements: Dict[int, nn.Module] = {}  # by id of the original, so a shared module stays shared

    def replacement_for(module: nn.Module, path: str) -> Optional[nn.Module]:
        if id(module) in replacements:
            return replacements[id(module)]
        cls = REPLACEMENTS.get(type(module).__name__)
        if cls is None or isinstance(module, cls):
            return None
        try:
            new = cls.from_original(module)
        except NotConvertible as reason:
            warnings.warn(f"varnorm_torch.convert: {path or 'the model'} "
                          f"({type(module).__module__}.{type(module).__qualname__}) left unchanged: {reason}")
            return None
        replacements[id(module)] = new
        return new

    root = replacement_for(model, "")
    if root is not None:
        return root
    for parent_path, parent in list(model.named_modules()):
        # _modules, not named_children(): the latter skips a module held twice under different names.
        for name, child in list(parent._modules.items()):
            if child is None:
                continue
            new = replacement_for(child, f"{parent_path}.{name}" if parent_path else name)
            if new is not None:
                setattr(parent, name, new)
    return model
