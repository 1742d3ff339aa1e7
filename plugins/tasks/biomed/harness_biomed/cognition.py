"""Prior knowledge on drug–target interaction models that the researcher may be shown.

Written for this plugin from the works named in each item's ``source``. Each item says what
to check or change in a candidate ``build_model(spec)`` program (a drug graph encoder, a
protein sequence encoder and an interaction module, trained by a fixed trainer with
BCE-with-logits and scored by AUROC, AUPRC, F1 and MCC on random, unseen-drug and
unseen-protein splits).
"""

from __future__ import annotations

from harness.driver_task import cognition_items

ROWS: tuple[tuple[str, str, str], ...] = (
    (
        "seed_model",
        "Interpretable bilinear attention network with domain adaptation improves "
        "drug–target prediction (Bai, Miljković, John and Lu, 2023, Nature Machine "
        "Intelligence 5:126–136), DrugBAN",
        "DrugBAN encodes drugs with a 3-layer GCN over the atom graph and proteins with a "
        "3-layer 1-D CNN (kernels 3, 6, 9), couples every atom with every residue through a "
        "2-head bilinear attention network and classifies the pooled joint vector with an "
        "MLP. Its gain over models that concatenate pooled drug and protein vectors comes "
        "from the explicit atom–residue map, so how that map is scored, normalised and "
        "pooled is the most direct lever.",
    ),
    (
        "interaction",
        "Bilinear Attention Networks (Kim, Jun and Zhang, 2018, NeurIPS 2018)",
        "BAN factorises the bilinear weight between two feature sets into rank-k "
        "projections, so an attention map over all pairs costs one matrix product per head, "
        "and several heads (glimpses) can attend to different contacts. With the softmax "
        "taken over the whole map a per-head bias cancels out, and one strong contact "
        "suppresses all others; normalising per atom over residues (or per residue over "
        "atoms) instead lets every atom find its own partner.",
    ),
    (
        "interaction",
        "Hadamard Product for Low-rank Bilinear Pooling (Kim, On, Lim, Kim, Ha and Zhang, "
        "2017, ICLR 2017)",
        "Low-rank bilinear pooling approximates a full bilinear form by projecting both "
        "inputs, multiplying them elementwise and projecting again, with a nonlinearity on "
        "the projections. It keeps multiplicative drug × protein interactions at linear "
        "cost, which an MLP on concatenated vectors learns only slowly, so keep a "
        "multiplicative path in any replacement of the interaction module.",
    ),
    (
        "prior_model",
        "MolTrans: Molecular Interaction Transformer for drug–target interaction prediction "
        "(Huang, Xiao, Glass and Sun, 2021, Bioinformatics 37(6):830–836)",
        "MolTrans mines frequent substructures of SMILES strings and protein sequences, "
        "encodes each side with a transformer, builds an explicit substructure × "
        "substructure interaction map by pairwise products and reads it with a CNN. "
        "Treating the interaction map as an image lets neighbouring contacts combine before "
        "pooling, an alternative to collapsing the map with a single attention-weighted sum.",
    ),
    (
        "bias",
        "TransformerCPI: improving compound–protein interaction prediction by "
        "sequence-based deep learning with self-attention mechanism and label reversal "
        "experiments (Chen et al., 2020, Bioinformatics 36(16):4406–4414)",
        "In TransformerCPI's label-reversal test a ligand seen in only one class during "
        "training appears in only the other class at test time, so a model that memorises "
        "ligands fails; the authors argued that common CPI sets, Human among them, reward "
        "such memorisation. Its compound atoms attend to protein features through a "
        "transformer decoder, so the protein must change the prediction: check that a "
        "candidate's scores for a fixed drug really vary across proteins.",
    ),
    (
        "prior_model",
        "Physicochemical graph neural network for learning protein–ligand interaction "
        "fingerprints from sequence data (Koh, Nguyen, Pan, May and Webb, 2024, Nature "
        "Machine Intelligence 6:673–687), PSICHIC",
        "PSICHIC learns from sequence and SMILES alone but builds physicochemical "
        "constraints into its graph neural network, and its interaction fingerprints point "
        "at the residues and atoms that interact. In the ASI-Evolve comparison it beats "
        "DrugBAN on BioSNAP (91.64 vs 89.43 AUROC), which suggests chemistry-aware inductive "
        "biases in the interaction module pay off when data are limited.",
    ),
    (
        "cold_start",
        "ColdstartCPI: Induced-fit theory-guided DTI predictive model with improved "
        "generalization performance (Zhao et al., 2025, Nature Communications 16, "
        "doi:10.1038/s41467-025-61745-7)",
        "ColdstartCPI treats compound and protein as flexible: a Transformer lets each "
        "side's features change in the presence of the other (induced fit) instead of "
        "fixing them before they meet, with its largest gains on unseen compounds and "
        "proteins; it tops BioSNAP (93.39 AUROC) in the ASI-Evolve comparison. Conditioning "
        "one encoder on the partner (cross-attention before pooling) is the cheap version "
        "of that idea here, where no pre-trained features are available.",
    ),
    (
        "protein_encoder",
        "DeepDTA: deep drug–target binding affinity prediction (Öztürk, Özgür and "
        "Ozkirimli, 2018, Bioinformatics 34(17):i821–i829)",
        "DeepDTA encodes SMILES strings and protein sequences each with three 1-D "
        "convolution layers and global max pooling, then concatenates the two vectors for "
        "an MLP. Max pooling makes a CNN a motif detector (is this pattern anywhere in the "
        "protein?), which suits binding-site motifs better than mean pooling, but "
        "concatenation leaves the drug–protein interaction to the MLP.",
    ),
    (
        "drug_encoder",
        "GraphDTA: predicting drug–target binding affinity with graph neural networks "
        "(Nguyen, Le, Quinn, Nguyen, Le and Venkatesh, 2021, Bioinformatics 37(8):1140–1147)",
        "Replacing DeepDTA's SMILES CNN by a GNN over the molecular graph lowered the error "
        "on Davis and KIBA; among GCN, GAT, GIN and a GAT–GCN hybrid, GIN was best on Davis "
        "and GCN and GAT–GCN on KIBA. The drug encoder's family matters less than the "
        "pooling and interaction that follow, so change it together with them.",
    ),
    (
        "drug_encoder",
        "How Powerful are Graph Neural Networks? (Xu, Hu, Leskovec and Jegelka, 2019, ICLR 2019)",
        "Sum aggregation followed by an MLP, h' = MLP((1+ε)h + Σ neighbours), is as "
        "discriminative as the Weisfeiler–Lehman test, while mean or max aggregation cannot "
        "tell apart neighbourhoods that differ only in multiplicity (one vs two identical "
        "substituents). Keep sum aggregation where counts matter, and consider a readout "
        "that concatenates the pooled representations of every layer, as GIN does.",
    ),
    (
        "drug_encoder",
        "Strategies for Pre-training Graph Neural Networks (Hu, Liu, Gomes, Zitnik, Liang, "
        "Pande and Leskovec, 2020, ICLR 2020)",
        "Their GIN variant adds an embedding of the bond's features to each neighbour's "
        "message before aggregation, which is how the seed uses bond features. Without bond "
        "features a GNN cannot tell single, double and aromatic bonds apart, so keep bond "
        "information in any replacement drug encoder.",
    ),
    (
        "drug_encoder",
        "Neural Message Passing for Quantum Chemistry (Gilmer, Schoenholz, Riley, Vinyals "
        "and Dahl, 2017, ICML 2017)",
        "The MPNN framework separates message, update and readout functions; edge networks "
        "(messages as learned functions of bond features) and a set2set readout gave its "
        "best QM9 results. An L-layer encoder sees each atom's L-hop neighbourhood, so the "
        "3-layer seed captures substructures of radius 3, comparable to ECFP6.",
    ),
    (
        "drug_encoder",
        "Extended-Connectivity Fingerprints (Rogers and Hahn, 2010, Journal of Chemical "
        "Information and Modeling 50(5):742–754)",
        "ECFP hashes each atom's circular neighbourhood of growing radius into substructure "
        "identifiers; ECFP4 (radius 2) is the usual basis for similarity and clustering. "
        "The unseen-drug split holds out clusters of ECFP4 similarity, so drug features "
        "transfer there only through small shared groups, which favours pharmacophore-like "
        "atom and group features over whole-molecule identity.",
    ),
    (
        "protein_encoder",
        "Understanding the Effective Receptive Field in Deep Convolutional Neural Networks "
        "(Luo, Li, Urtasun and Zemel, 2016, NeurIPS 2016)",
        "Stacked stride-1 convolutions with kernels 3, 6 and 9 give a theoretical receptive "
        "field of 16 residues, and the effective field is smaller and Gaussian-shaped. "
        "Binding motifs that span more sequence, or combine residues far apart in sequence, "
        "need dilation, striding or attention along the sequence.",
    ),
    (
        "protein_encoder",
        "Multi-Scale Context Aggregation by Dilated Convolutions (Yu and Koltun, 2016, ICLR 2016)",
        "Dilations that double per layer grow the receptive field exponentially with depth "
        "at constant cost and resolution: four kernel-3 layers with dilations 1, 2, 4, 8 "
        "reach 31 residues without downsampling, keeping per-residue outputs for the "
        "atom–residue map. The protein CNN dominates the seed's cost, so widening it is "
        "expensive while dilating it is nearly free.",
    ),
    (
        "interaction",
        "Sinkhorn Distances: Lightspeed Computation of Optimal Transport (Cuturi, 2013, "
        "NeurIPS 2013)",
        "Entropy-regularised optimal transport is solved by alternately normalising the rows "
        "and columns of exp(−C/ε) (Sinkhorn iterations), giving a transport plan with "
        "prescribed marginals. On an atom–residue map, run the normalisations in log space "
        "with logsumexp for a few iterations (3–10), keep masked entries at −inf in every "
        "iteration, and treat ε as the temperature that sets how sharp the matching is.",
    ),
    (
        "interaction",
        "Sinkformers: Transformers with Doubly Stochastic Attention (Sander, Ablin, Blondel "
        "and Peyré, 2022, AISTATS 2022)",
        "Replacing softmax by a few Sinkhorn iterations makes attention doubly stochastic, "
        "and softmax is the first step of the iteration, so the change is a drop-in. For a "
        "drug–protein map of unequal sides, use marginals 1/A over a drug's atoms and 1/L "
        "over a protein's residues (counting real ones only), or learned marginals.",
    ),
    (
        "interaction",
        "Outrageously Large Neural Networks: The Sparsely-Gated Mixture-of-Experts Layer "
        "(Shazeer, Mirhoseini, Maziarz, Davis, Le, Hinton and Dean, 2017, ICLR 2017)",
        "Noisy top-k gating keeps the k largest gate logits and sets the rest to −inf "
        "before the softmax, so gradient reaches only the kept entries; an auxiliary "
        "balancing loss stops a few experts taking all the traffic. The trainer here fixes "
        "the loss, so top-k over residues per atom must avoid collapse through the "
        "parametrisation (noise, a temperature floor, a dense residual path) instead.",
    ),
    (
        "interaction",
        "From Softmax to Sparsemax (Martins and Astudillo, 2016, ICML 2016); Sparse "
        "Sequence-to-Sequence Models (Peters, Niculae and Martins, 2019, ACL 2019)",
        "Sparsemax and α-entmax are normalisations with exact zeros and usable gradients "
        "everywhere, unlike a hard top-k whose selection gets no gradient. They give a "
        "sparse atom–residue map at the cost of a sort per row, which on CPU is noticeable "
        "for rows of several hundred residues.",
    ),
    (
        "interaction",
        "FiLM: Visual Reasoning with a General Conditioning Layer (Perez, Strub, de Vries, "
        "Dumoulin and Courville, 2018, AAAI 2018)",
        "Feature-wise linear modulation scales and shifts one network's channels by affine "
        "functions of another input. Conditioning the protein CNN on the drug lets it look "
        "for what matters to this ligand, but then proteins are encoded once per pair rather "
        "than once per batch, multiplying the dominant cost by about four at 64 pairs over "
        "16 proteins; conditioning after the CNN keeps the cost.",
    ),
    (
        "architecture",
        "Deep Residual Learning for Image Recognition (He, Zhang, Ren and Sun, 2016, CVPR 2016)",
        "Identity paths let a new block start near the identity and matter only where it "
        "helps. When replacing the interaction module, keep a skip path (for example add "
        "the pooled drug and protein vectors to the joint vector) so the marginal signal "
        "survives while the new module learns within a budget of a few epochs.",
    ),
    (
        "domain_adaptation",
        "Conditional Adversarial Domain Adaptation (Long, Cao, Wang and Jordan, 2018, "
        "NeurIPS 2018)",
        "CDAN aligns features across domains with a discriminator on the outer product of "
        "features and predictions behind a gradient-reversal layer; DrugBAN used it for its "
        "cluster-based cross-domain evaluation. It needs unlabelled target-domain inputs "
        "during training, which this trainer never provides, so domain ideas must be "
        "architectural, such as removing per-drug or per-family offsets from the features.",
    ),
    (
        "cold_start",
        "Toward more realistic drug–target interaction predictions (Pahikkala, Airola, "
        "Pietilä, Shakyawar, Szwajda, Tang and Aittokallio, 2015, Briefings in "
        "Bioinformatics 16(2):325–337)",
        "Report pairs with both sides seen, new drugs, new targets and both new separately, "
        "because the first setting rewards memorising per-drug and per-target tendencies. "
        "An unseen-protein split leaks when close homologues of test proteins are in "
        "training, so this task holds out whole protein families.",
    ),
    (
        "cold_start",
        "MoleculeNet: a benchmark for molecular machine learning (Wu, Ramsundar, Feinberg, "
        "Gomes, Geniesse, Pappu, Leswing and Pande, 2018, Chemical Science 9:513–530)",
        "Random splits put near-duplicate molecules in train and test and overestimate "
        "accuracy on new chemistry; scaffold splits (Bemis–Murcko cores) give a truer "
        "estimate. Judge drug-encoder changes on the unseen-drug split, not on the random "
        "one, where memorised fragments already score well.",
    ),
    (
        "cold_start",
        "Unsupervised Data Base Clustering Based on Daylight's Fingerprint and Tanimoto "
        "Similarity (Butina, 1999, Journal of Chemical Information and Computer Sciences "
        "39(4):747–750)",
        "Butina clustering groups molecules within a Tanimoto distance threshold of a "
        "centroid (0.6 for this task's unseen-drug split, i.e. similarity 0.4). Holding out "
        "whole clusters leaves test drugs sharing only small fragments with training drugs, "
        "so what transfers is local chemistry rather than whole-molecule identity.",
    ),
    (
        "bias",
        "DebiasedDTA: A Framework for Improving the Generalizability of Drug-Target Affinity "
        "Prediction Models (Özçelik, Bağ, Atıl, Barsbey, Özgür and Özkırımlı, "
        "arXiv:2107.05556; Journal of Computational Biology, doi:10.1089/cmb.2023.0208)",
        "A guide model that sees only ligand and protein identities already predicts "
        "affinities on common benchmarks, so models learn dataset biases; DebiasedDTA "
        "reweights training samples by how hard they are for the guide. Here the loss is "
        "fixed, so the check is the drug_only and prot_only ablations: favour designs whose "
        "margin over them grows on the unseen splits.",
    ),
    (
        "bias",
        "In Need of Bias Control: Evaluating Chemical Data for Machine Learning in "
        "Structure-Based Virtual Screening (Sieg, Flachsenberg and Rarey, 2019, Journal of "
        "Chemical Information and Modeling 59(3):947–961)",
        "Widely used virtual-screening benchmarks let models score well from ligand "
        "properties alone, a bias learned implicitly and unnoticed. A change that improves "
        "only the drug branch is suspect unless the gap to the drug-only ablation grows too.",
    ),
    (
        "benchmarks",
        "Improving compound–protein interaction prediction by building up highly credible "
        "negative samples (Liu, Sun, Guan, Zheng and Zhou, 2015, Bioinformatics "
        "31(12):i221–i229)",
        "The Human set's negatives were chosen by a screening procedure as compounds unlike "
        "a target's known ligands, which makes the classes easy to separate; published "
        "AUROCs on its random split are 0.96–0.99. Gains there sit within seed noise, so "
        "use the cold split and the synthetic set to rank candidates.",
    ),
    (
        "metrics",
        "The Precision-Recall Plot Is More Informative than the ROC Plot When Evaluating "
        "Binary Classifiers on Imbalanced Datasets (Saito and Rehmsmeier, 2015, PLoS ONE "
        "10(3):e0118432)",
        "AUROC ignores class balance, while AUPRC's chance level equals the positive rate "
        "(0.11–0.45 across this task's test sets), so an AUPRC of 0.33 is poor at 0.45 "
        "positives and good at 0.12. Compare AUPRC only against the same test set's "
        "positive rate; it rewards getting the top of the ranking right.",
    ),
    (
        "metrics",
        "The advantages of the Matthews correlation coefficient (MCC) over F1 score and "
        "accuracy in binary classification evaluation (Chicco and Jurman, 2020, BMC Genomics "
        "21:6)",
        "MCC is high only when all four confusion-matrix cells are good, whereas F1 ignores "
        "true negatives. Both depend on the decision threshold, so a change that shifts the "
        "logits' calibration can move F1 and MCC without changing the ranking (AUROC).",
    ),
    (
        "label_noise",
        "A Closer Look at Memorization in Deep Networks (Arpit et al., 2017, ICML 2017)",
        "Networks fit simple shared patterns before they memorise noisy labels, and "
        "regularisers such as dropout delay memorisation. DTI negatives are often unmeasured "
        "pairs and the synthetic set flips 5% of labels, so under a short fixed budget extra "
        "width mostly buys memorisation; prefer inductive bias to capacity.",
    ),
    (
        "training_signal",
        "Batch Normalization: Accelerating Deep Network Training by Reducing Internal "
        "Covariate Shift (Ioffe and Szegedy, 2015, ICML 2015)",
        "Batch norm uses batch statistics in training and running averages in evaluation, "
        "so training-mode outputs depend on the rest of the batch; in the protein CNN the "
        "statistics include padded positions, whose share changes with the batch's longest "
        "protein. Layer norm or masked statistics remove that dependence, and batch norm on "
        "a per-pair layer fails on a batch of one.",
    ),
    (
        "evolved_module",
        "ASI-Evolve: AI Accelerates AI (Xu, Mi, Liu, Nan, Zhou, Ye, Zhang, Qiao and Liu, "
        "2026, arXiv:2603.29640), Section 5.4",
        "Starting from DrugBAN, the best evolved model replaced bilinear attention by "
        "Sinkhorn (doubly stochastic, optimal-transport) attention, added marginalisation "
        "over drug substructures and protein domains and learnable top-k sparse gating, "
        "with entropy regularisation and orthogonality constraints against collapse. It "
        "gained +6.94 AUROC on unseen drugs (79.15 → 86.09), +3.56 on unseen proteins and "
        "+4.36 on both unseen, but only +0.28 on Human: the interaction module matters most "
        "in cold start.",
    ),
)

COGNITION = cognition_items(ROWS)
