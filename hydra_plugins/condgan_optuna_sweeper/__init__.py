"""condgan's Optuna sweeper for Hydra (``hydra/sweeper=optuna``); Hydra finds it in the ``hydra_plugins``
namespace package, where it requires every plugin to live."""
