"""Drug–target interaction model search for harness: DrugBAN in plain torch, scored on
random, unseen-drug and unseen-protein splits by a trusted trainer."""

__version__ = "0.1.0"
