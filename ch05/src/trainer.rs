//! The GRPO training loop's state (book ch. 6): the policy, the frozen
//! reference, the inference copy of the policy that samples the rollouts, and
//! the training problems, stepped one problem at a time.

use ch03::prompts::PromptStyle;
use ch03::Problem;
use shared::cli::DeviceArgs;
use shared::device::Device;
use shared::loader::{LoadedModel, PromptMode};
use shared::model::Model;
use shared::tokenizer::{ChatTemplate, Tokenizer};
use shared::train::Params;
use shared::Result;

use crate::evaluate::{evaluate_held_out, HeldOutResult};
use crate::policy::Policy;
use crate::rollout::Rollout;
use crate::step::{grpo_step, StepConfig, StepMetrics};

/// A problem posed to the model: its text and answer, and its prompt as ids.
#[derive(Debug, Clone, PartialEq)]
pub struct PosedProblem {
    /// The problem and its ground-truth answer.
    pub problem: Problem,
    /// The prompt (ch03's templates), raw or in the model's chat template, as ids.
    pub prompt_ids: Vec<u32>,
}

/// Renders and encodes every problem in `style`, raw or as a chat message as
/// `mode` says.
pub fn pose_problems(
    loaded: &LoadedModel,
    problems: Vec<Problem>,
    style: PromptStyle,
    mode: PromptMode,
) -> Result<Vec<PosedProblem>> {
    problems
        .into_iter()
        .map(|problem| {
            let prompt_ids = loaded.encode_prompt_as(&style.render(&problem.problem), mode)?;
            Ok(PosedProblem {
                problem,
                prompt_ids,
            })
        })
        .collect()
}

/// The seed of step `step`'s rollouts: the run's seed mixed with the step, so
/// a resumed run samples what the uninterrupted run would have.
pub fn step_seed(seed: u64, step: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(step.wrapping_mul(0xBF58_476D_1CE4_E5B9))
}

/// `reference` with its model moved to `device` (nothing to do when it is
/// already there), saying on stderr which GPU it runs on. Training stays on
/// the CPU; the reference only scores rollouts for the KL term.
pub fn reference_on(mut reference: LoadedModel, device: DeviceArgs) -> Result<LoadedModel> {
    if reference.model.device() != device.device {
        reference.model = reference
            .model
            .into_device(device.device, device.gpu_dtype)?;
        eprintln!(
            "rollouts and the reference model run on {}; training on the CPU",
            reference.model.device_description()
        );
    }
    Ok(reference)
}

/// The inference copy of `params` that samples rollouts and answers held-out
/// problems: on the CPU quantized to Q8_0 (4× faster to decode than f32
/// weights); on a GPU the f32 weights uploaded as `--gpu-dtype`.
pub fn rollout_model(params: &Params, device: DeviceArgs) -> Result<Model> {
    match device.device {
        Device::Cpu => params.to_model_q8_0(),
        Device::Cuda(_) => params
            .to_model()?
            .into_device(device.device, device.gpu_dtype),
    }
}

/// Everything the loop holds between steps.
pub struct Trainer {
    /// The policy being trained.
    pub policy: Policy,
    /// The model as loaded (frozen, on the run's device): the KL reference,
    /// with the tokenizer and chat template.
    pub reference: LoadedModel,
    /// The policy's current weights as an inference model on the run's device,
    /// for sampling and evaluation ([`rollout_model`]). On the CPU it is
    /// quantized to Q8_0, so it samples from a policy a quantization step away
    /// from the trained one (the loss itself uses the f32 weights).
    rollout_model: Model,
    /// Where the reference and the rollout model run (training stays on the CPU).
    device: DeviceArgs,
    /// Training problems, visited in order (and again from the start when they run out).
    pub problems: Vec<PosedProblem>,
    /// How each step samples, rewards and updates.
    pub config: StepConfig,
    /// The run's seed.
    pub seed: u64,
    /// Steps taken so far.
    pub step: u64,
}

impl Trainer {
    /// A loop at step `step` (0 for a fresh run) over `problems`, sampling
    /// and scoring on `device` (the reference is moved there if it is not).
    pub fn new(
        policy: Policy,
        reference: LoadedModel,
        problems: Vec<PosedProblem>,
        config: StepConfig,
        seed: u64,
        step: u64,
        device: DeviceArgs,
    ) -> Result<Trainer> {
        if problems.is_empty() {
            return Err(shared::Error::InvalidArgument(
                "no training problems".into(),
            ));
        }
        let reference = reference_on(reference, device)?;
        let rollout_model = rollout_model(&policy.params, device)?;
        Ok(Trainer {
            policy,
            reference,
            rollout_model,
            device,
            problems,
            config,
            seed,
            step,
        })
    }

    /// The tokenizer (the loaded model always has one here).
    pub fn tokenizer(&self) -> Result<&Tokenizer> {
        self.reference.tokenizer()
    }

    /// The starting model's chat template, saved with each checkpoint.
    pub fn chat_template(&self) -> Option<&ChatTemplate> {
        self.reference.chat_template.as_ref()
    }

    /// Takes the next step: the next problem, its rollouts and the updates.
    /// Returns the step's metrics, the rollouts and the problem's index.
    pub fn train_step(&mut self) -> Result<(StepMetrics, Vec<Rollout>, usize)> {
        self.step += 1;
        let index = ((self.step - 1) % self.problems.len() as u64) as usize;
        let posed = &self.problems[index];
        let tokenizer = self.reference.tokenizer()?;
        let (metrics, rollouts) = grpo_step(
            &mut self.policy,
            &self.rollout_model,
            &self.reference.model,
            tokenizer,
            &posed.prompt_ids,
            &posed.problem.answer,
            &self.config,
            self.step,
            step_seed(self.seed, self.step),
        )?;
        if !metrics.skipped {
            self.refresh_rollout_model()?;
        }
        Ok((metrics, rollouts, index))
    }

    /// Rebuilds the inference copy from the policy's weights (on a GPU:
    /// uploads them again).
    pub fn refresh_rollout_model(&mut self) -> Result<()> {
        self.rollout_model = rollout_model(&self.policy.params, self.device)?;
        Ok(())
    }

    /// Greedy answers of the current policy to `problems`, graded as ch03 does.
    pub fn evaluate(
        &self,
        problems: &[PosedProblem],
        max_new_tokens: usize,
    ) -> Result<Vec<HeldOutResult>> {
        let plain: Vec<Problem> = problems.iter().map(|p| p.problem.clone()).collect();
        let prompts: Vec<Vec<u32>> = problems.iter().map(|p| p.prompt_ids.clone()).collect();
        evaluate_held_out(
            &self.rollout_model,
            self.tokenizer()?,
            &plain,
            &prompts,
            max_new_tokens,
            &self.config.stop_ids,
        )
    }
}
