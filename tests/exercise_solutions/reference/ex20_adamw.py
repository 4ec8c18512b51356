from potatogpt.train import adamw_update as adamw_update
