"""Default settings of the vision decision makers (plain Python, so the CLI can show them
without importing torch, numpy or pandas)."""

# Fine-tuning: 3D-PC's settings (AdamW, lr 5e-5, weight decay 1e-4, warm-up then cosine, 30 epochs);
# one warm-up epoch, batch 32 and early stopping after 5 epochs without a better val accuracy are ours.
FINETUNE_DEFAULTS: dict = {"lr": 5e-5, "weight_decay": 1e-4, "epochs": 30, "warmup_epochs": 1, "batch_size": 32,
                           "patience": 5}

# Training from scratch (ours; no 3D-PC counterpart): a larger learning rate and weight decay
# for randomly initialised weights, a longer warm-up and patience.
SCRATCH_DEFAULTS: dict = {"lr": 1e-3, "weight_decay": 0.05, "epochs": 30, "warmup_epochs": 2, "batch_size": 32,
                          "patience": 8}
